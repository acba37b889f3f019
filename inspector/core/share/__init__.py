"""Sharing what was captured: export formats (JSONL today)."""
