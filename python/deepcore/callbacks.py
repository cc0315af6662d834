"""deepcore.callbacks: the training callbacks (``deepcore.models.callbacks``), Keras's path."""

from .models.callbacks import *  # noqa: F401,F403
from .models.callbacks import __all__  # noqa: F401
