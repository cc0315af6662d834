"""deepcore.nn: layers (Keras-style names) and the functional ops."""
from . import functional  # noqa: F401
