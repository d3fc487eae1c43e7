"""Moved to `kspec.files` (used by every stage); kept so older imports keep working."""

from kspec.files import atomic_path, save_model, write_bytes, write_text  # noqa: F401
