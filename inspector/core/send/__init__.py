"""Sending: the HTTP client side (forwarding, replay, test events). Empty until those land."""
