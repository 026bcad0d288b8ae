"""edgeiqa: no-reference image quality, trained in PyTorch, served without it."""

__version__ = "0.1.0"
