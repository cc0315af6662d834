"""Datasets: MNIST (IDX files, local or downloaded with checksums) and character-level text.

from deepcore.datasets import mnist, text
(x_train, y_train), (x_test, y_test) = mnist.load_data()
"""

from . import mnist, text

__all__ = ["mnist", "text"]
