"""Exceptions the runtime raises; each message says what to do about it."""


class EdgeIQAError(Exception):
    """Base class: a problem a user can fix, reported without a traceback by the CLI."""


class ImageDecodeError(EdgeIQAError):
    """An input could not be turned into an RGB frame (corrupt, truncated, not an image)."""


class BundleError(EdgeIQAError):
    """A bundle is missing, malformed, tampered with or built for another device."""


class BackendUnavailableError(EdgeIQAError):
    """The requested inference library or device is not present on this machine."""
