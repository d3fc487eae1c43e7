"""recurrent layers (filled in by registry work)."""
