"""Headless core: capture, decoding, storage. Never imports Qt."""
