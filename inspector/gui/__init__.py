"""The Qt window.  Everything Qt lives under this package; ``inspector.core`` never imports it."""
