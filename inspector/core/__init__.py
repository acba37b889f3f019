"""Headless core, in wings: provider <- session <- capture, share, send; tunnel apart. Never Qt."""
