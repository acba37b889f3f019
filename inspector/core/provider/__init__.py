"""What the provider sends and means: the event catalogue, payload models, the decoder, lenient JSON."""
