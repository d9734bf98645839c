"""The package version (one place: the CLI and the package read it)."""

__version__ = "0.2.0"
