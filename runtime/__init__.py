"""The slim runtime: numpy + Pillow + one inference library. Never imports torch."""

from edgeiqa.runtime.bundle import load_bundle
from edgeiqa.runtime.errors import BackendUnavailableError, BundleError, EdgeIQAError, ImageDecodeError
from edgeiqa.runtime.frame_selector import FrameEvent, FrameSelector
from edgeiqa.runtime.preprocess import decode, load_frame, resize
from edgeiqa.runtime.scorer import Scorer, ScoreResult

__all__ = ["BackendUnavailableError", "BundleError", "EdgeIQAError", "FrameEvent", "FrameSelector", "ImageDecodeError",
           "ScoreResult", "Scorer", "decode", "load_bundle", "load_frame", "resize"]
