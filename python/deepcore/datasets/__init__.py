"""Datasets: MNIST (IDX files, local or downloaded with checksums), synthetic digits, char text.

from deepcore.datasets import mnist, synthetic, text
(x_train, y_train), (x_test, y_test) = mnist.load_data()
"""

from . import mnist, synthetic, text

__all__ = ["mnist", "synthetic", "text"]
