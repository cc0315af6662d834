"""The package version (pyproject.toml says the same; one place for the Python side)."""

__version__ = "0.1.0"
