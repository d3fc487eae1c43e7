"""pooling layers (filled in by registry work)."""
