"""digitrec: handwritten digit recognition with a convolutional neural network."""

__version__ = "0.1.0"
