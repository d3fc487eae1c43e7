"""reshaping layers (filled in by registry work)."""
