"""Stage 1: load YAML/JSON with positions and validate it into a `Spec`."""
