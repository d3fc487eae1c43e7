"""attention layers (filled in by registry work)."""
