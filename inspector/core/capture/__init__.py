"""Receiving: the HTTP listener, the engine thread, the writer process, the printed lines."""
