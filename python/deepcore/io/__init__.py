"""deepcore.io: file formats (safetensors)."""

from . import safetensors  # noqa: F401
