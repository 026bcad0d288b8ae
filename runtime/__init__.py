"""The slim runtime: numpy + Pillow + one inference library. Never imports torch."""

from edgeiqa.runtime.errors import BackendUnavailableError, BundleError, EdgeIQAError, ImageDecodeError
from edgeiqa.runtime.preprocess import decode, load_frame, resize

__all__ = ["BackendUnavailableError", "BundleError", "EdgeIQAError", "ImageDecodeError",
           "decode", "load_frame", "resize"]
