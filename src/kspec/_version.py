"""The package version: the one thing every stage may import from the top level."""

__version__ = "0.1.0"
