"""What a camera gets wrong, rendered from a real photo where it happens: in linear light.

A camera's exposure, sensor noise and optics act on light, before the tone curve; compression
acts on the encoded sRGB values after it. Each fault therefore undoes the sRGB curve (IEC
61966-2-1), acts, and re-applies it, except `compression`, which re-encodes the sRGB frame.

Every fault has four severity levels (1 mildest .. 4 worst) and is deterministic for a given
(photo, rng). The labels each copy carries (`FaultLabels`) are what the attribute outputs learn:
blur level, exposure error in stops (signed), noise level, compression level, colour-cast level,
broken or not.

Three faults come from the read-out and the pipeline rather than the optics: defective
photosites (stuck dark or hot, one colour channel each, like a Bayer sensor's), too few bits per
channel (banding in smooth areas), and a binned read-out repeated back to full size (a low-
resolution stream upscaled by a nearest-neighbour scaler: blocks). Their labels use the
attribute that names what a viewer sees: noise, compression, blur.

Two come from the colour pipeline: saturation pushed too far (a vivid picture style or a colour-
correction matrix for the wrong sensor; out-of-gamut colours clip) and colour washed out (heavy
chroma noise reduction in low light, or the matrix the other way). Both scale each pixel's
distance from its own grey in linear light, so luminance stays; both are labelled `colour_cast`
(the colour attribute: what is wrong is the colour, not the light).

Broken frames are what a camera can hand over instead of a photo: a flat frame of any colour
(among them the green that an all-zero YUV buffer decodes to), pure sensor noise, a lens cap,
a torn read-out, a partial read-out, a saturated frame.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
from PIL import Image
from scipy.signal import fftconvolve

LEVELS = (1, 2, 3, 4)
# Sensor model for `low_light`: electrons at the brightest linear value of a well-exposed frame,
# and read noise (electrons, Gaussian). Phone sensors hold a few thousand e- per pixel and read
# out at 1.5-3 e-; 4000 and 2.5 put a 5-stop push visibly but not absurdly noisy.
FULL_WELL_E = 4000.0
READ_NOISE_E = 2.5

EXPOSURE_OVER_STOPS = (0.75, 1.5, 2.25, 3.0)
EXPOSURE_UNDER_STOPS = (1.0, 2.0, 3.0, 4.0)
# A photo already far off a normal exposure gets no copies that would move it back: brightening a
# frame whose mean linear luminance is ~2 stops under mid-grey (0.18) corrects it, darkening one
# ~1.5 stops over does too, and neither copy may be labelled the worse one (a CLIVE night shot at
# 0.026 scored better with each "over-exposure" level).
OVER_EXPOSURE_MIN_LUMINANCE = 0.05
UNDER_EXPOSURE_MAX_LUMINANCE = 0.5
LOW_LIGHT_STOPS = (3.0, 4.5, 6.0, 7.5)  # under-exposure the camera then gains back
MOTION_LENGTH = (0.012, 0.024, 0.04, 0.06)  # path length, fraction of the image diagonal
DEFOCUS_RADIUS = (0.004, 0.008, 0.014, 0.022)  # disk radius, fraction of the image diagonal
JPEG_QUALITY = (30, 15, 8, 4)
WB_CAST_STOPS = (0.35, 0.7, 1.05, 1.4)  # red/blue gain ratio error, in stops
DEFECTIVE_SHARE = (0.002, 0.006, 0.02, 0.05)  # share of photosites stuck dark or hot
BIT_DEPTH = (5, 4, 3, 2)  # bits per channel the frame keeps (8 = a normal frame)
BINNING = (2, 3, 4, 6)  # photosites averaged per side, then repeated back to full size
SATURATION_GAIN = (1.5, 2.0, 2.75, 3.5)  # chroma multiplied (distance from the pixel's grey, linear light)
SATURATION_KEPT = (0.65, 0.45, 0.25, 0.05)  # chroma kept when colour washes out
# Below this mean channel spread a photo is nearly grey (a black-and-white shot): scaling its
# chroma changes nothing a viewer sees, so the saturation faults skip it (labels must hold).
MIN_CHROMA = 0.04


@dataclass(frozen=True)
class FaultLabels:
    """What a copy's attributes should read. Clean photos: all zero."""

    blur: float = 0.0  # 0 sharp .. 1 worst rendered blur
    exposure: float = 0.0  # stops, signed: < 0 dark, > 0 bright
    noise: float = 0.0  # 0 clean .. 1 worst rendered sensor noise
    compression: float = 0.0  # 0 none .. 1 worst rendered compression
    colour_cast: float = 0.0  # 0 right .. 1 the worst rendered colour error (white balance, saturation)
    broken: float = 0.0  # 1: not a photo at all

    def as_list(self) -> list[float]:
        return [self.blur, self.exposure, self.noise, self.compression, self.colour_cast, self.broken]


ATTRIBUTE_NAMES = tuple(asdict(FaultLabels()).keys())


# -- sRGB <-> linear -------------------------------------------------------------------------
def srgb_to_linear(img: np.ndarray) -> np.ndarray:
    """uint8 (or float 0..1) sRGB -> float64 linear light 0..1, the exact IEC 61966-2-1 curve."""
    v = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else np.asarray(img, np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    """float linear light (clipped to 0..1, as a sensor clips) -> uint8 sRGB."""
    v = np.clip(lin, 0.0, 1.0)
    s = np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
    return np.clip(np.round(s * 255.0), 0, 255).astype(np.uint8)


def luminance(lin: np.ndarray) -> np.ndarray:
    """Relative luminance Y of linear BT.709/sRGB primaries."""
    return lin[..., 0] * 0.2126 + lin[..., 1] * 0.7152 + lin[..., 2] * 0.0722


# -- kernels ---------------------------------------------------------------------------------
def disk_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    """A defocus PSF: a uniform disk, anti-aliased by supersampling its edge; sums to 1."""
    r = max(float(radius), 0.5)
    n = int(np.ceil(r)) * 2 + 1
    fine = (np.arange(n * supersample) + 0.5) / supersample - n / 2
    yy, xx = np.meshgrid(fine, fine, indexing="ij")
    inside = (xx * xx + yy * yy <= r * r).astype(np.float64)
    k = inside.reshape(n, supersample, n, supersample).mean(axis=(1, 3))
    return k / k.sum()


def motion_kernel(length: float, rng: np.random.Generator, steps: int = 64) -> np.ndarray:
    """A hand-shake path: a random walk whose heading drifts, rasterised; sums to 1.

    The path starts in a random direction and turns a little at every step, so short exposures
    give near-straight streaks and long ones curved paths, as real camera shake does.
    """
    length = max(float(length), 1.0)
    heading = rng.uniform(0, 2 * np.pi)
    turns = np.cumsum(rng.normal(0, 0.25, steps))
    angles = heading + turns
    step = length / steps
    pts = np.cumsum(np.stack([np.cos(angles), np.sin(angles)], 1) * step, axis=0)
    pts -= pts.mean(0)
    half = int(np.ceil(np.abs(pts).max())) + 1
    k = np.zeros((2 * half + 1, 2 * half + 1))
    for x, y in pts:  # bilinear splat of each path point
        fx, fy = x + half, y + half
        x0, y0 = int(np.floor(fx)), int(np.floor(fy))
        dx, dy = fx - x0, fy - y0
        k[y0, x0] += (1 - dx) * (1 - dy)
        k[y0, x0 + 1] += dx * (1 - dy)
        k[y0 + 1, x0] += (1 - dx) * dy
        k[y0 + 1, x0 + 1] += dx * dy
    return k / k.sum()


def convolve_linear(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel in linear light (how the optics blur light), edges reflected."""
    lin = srgb_to_linear(img)
    pad = kernel.shape[0] // 2
    padded = np.pad(lin, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    out = np.stack([fftconvolve(padded[..., c], kernel, mode="valid") for c in range(3)], -1)
    return linear_to_srgb(out)


def _diagonal(img: np.ndarray) -> float:
    return float(np.hypot(img.shape[0], img.shape[1]))


# -- faults of a photo -----------------------------------------------------------------------
Fault = Callable[[np.ndarray, int, np.random.Generator], tuple[np.ndarray, FaultLabels]]
FAULTS: dict[str, Fault] = {}


def fault(name: str) -> Callable[[Fault], Fault]:
    def register(fn: Fault) -> Fault:
        FAULTS[name] = fn
        return fn

    return register


def expose(img: np.ndarray, stops: float) -> np.ndarray:
    """Scale linear light by 2**stops; the sensor clips at full scale."""
    return linear_to_srgb(srgb_to_linear(img) * 2.0 ** stops)


@fault("over_exposure")
def over_exposure(img, level, rng):
    stops = EXPOSURE_OVER_STOPS[level - 1]
    return expose(img, stops), FaultLabels(exposure=stops)


@fault("under_exposure")
def under_exposure(img, level, rng):
    stops = EXPOSURE_UNDER_STOPS[level - 1]
    return expose(img, -stops), FaultLabels(exposure=-stops)


def sensor_capture(lin: np.ndarray, stops_down: float, rng: np.random.Generator,
                   full_well: float = FULL_WELL_E, read_noise: float = READ_NOISE_E) -> np.ndarray:
    """Expose `stops_down` stops short, count photons (Poisson), add read noise, gain back.

    In linear units of the gained-back frame the noise variance is
        var = lin * g / full_well + (read_noise * g / full_well)**2,   g = 2**stops_down,
    shot noise growing with the signal and read noise constant (tested).
    """
    gain = 2.0 ** stops_down
    electrons = lin * full_well / gain
    counted = rng.poisson(electrons).astype(np.float64) + rng.normal(0.0, read_noise, lin.shape)
    return counted * gain / full_well


@fault("low_light")
def low_light(img, level, rng):
    stops = LOW_LIGHT_STOPS[level - 1]
    out = linear_to_srgb(sensor_capture(srgb_to_linear(img), stops, rng))
    return out, FaultLabels(noise=level / len(LEVELS))


@fault("motion_blur")
def motion_blur(img, level, rng):
    kernel = motion_kernel(MOTION_LENGTH[level - 1] * _diagonal(img), rng)
    return convolve_linear(img, kernel), FaultLabels(blur=level / len(LEVELS))


@fault("defocus")
def defocus(img, level, rng):
    kernel = disk_kernel(DEFOCUS_RADIUS[level - 1] * _diagonal(img))
    return convolve_linear(img, kernel), FaultLabels(blur=level / len(LEVELS))


@fault("compression")
def compression(img, level, rng):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=JPEG_QUALITY[level - 1])
    buf.seek(0)
    out = np.asarray(Image.open(buf).convert("RGB"))
    return out, FaultLabels(compression=level / len(LEVELS))


# Kinds whose direction is drawn once per photo, not per copy: the copies of one photo at levels
# 1..4 must lie on one line away from the clean photo, or no score can order them (a level-2 copy
# cast the other way can be the more neutral one on a warm photo). The renderer draws their random
# stream from (photo, kind) alone (train/data/fault_copies.py).
DIRECTION_PER_PHOTO = frozenset({"white_balance"})


NEUTRAL_LEAN_STOPS = 0.1  # a photo whose grey-world red/blue balance is within this of 1 counts as neutral


def colour_lean(img: np.ndarray) -> float:
    """log2 of the grey-world red/blue balance in linear light: > 0 warm, < 0 cool."""
    lin = srgb_to_linear(img).reshape(-1, 3).mean(axis=0) + 1e-6
    return float(np.log2(lin[0] / lin[2]))


@fault("white_balance")
def white_balance(img, level, rng):
    """A colour cast: red and blue gains off by +-stops/2 in opposite directions, away from neutral.

    A photo that already leans warm (or cool) is pushed further that way: a cast the other way
    would first correct it, and the copy "with the fault" could look better than the photo,
    which no label may claim. A neutral photo goes warm or cool by the first draw of `rng`; the
    same stream gives every level of it the same direction (DIRECTION_PER_PHOTO)."""
    lean = colour_lean(img)
    coin = 1 if rng.random() < 0.5 else -1
    direction = coin if abs(lean) < NEUTRAL_LEAN_STOPS else (1 if lean > 0 else -1)
    stops = WB_CAST_STOPS[level - 1] * direction
    gains = np.array([2.0 ** (stops / 2), 1.0, 2.0 ** (-stops / 2)])
    return linear_to_srgb(srgb_to_linear(img) * gains), FaultLabels(colour_cast=level / len(LEVELS))


@fault("defective_pixels")
def defective_pixels(img, level, rng):
    """Stuck photosites: each of a share of (pixel, channel) sites reads 0 or full scale, as a
    dead or hot photosite under one colour filter does (so the specks are coloured)."""
    out = img.copy()
    stuck = rng.random(img.shape) < DEFECTIVE_SHARE[level - 1]
    hot = rng.random(img.shape) < 0.5
    out[stuck & hot] = 255
    out[stuck & ~hot] = 0
    return out, FaultLabels(noise=level / len(LEVELS))


@fault("bit_depth")
def bit_depth(img, level, rng):
    """A pipeline that keeps `bits` per channel of the encoded frame, widened back to 8 bits over
    the full range (as bit replication does: black stays black, white white): 2**bits levels,
    banding in skies and skin."""
    top = 2 ** BIT_DEPTH[level - 1] - 1
    codes = np.rint(img.astype(np.float64) * top / 255.0)
    return np.rint(codes * 255.0 / top).astype(np.uint8), FaultLabels(compression=level / len(LEVELS))


@fault("binning")
def binning(img, level, rng):
    """A binned read-out: f x f photosites summed (averaged in linear light, which is what charge
    binning conserves), then each value repeated over its f x f block to the full frame size."""
    f = BINNING[level - 1]
    lin = srgb_to_linear(img)
    h, w = img.shape[0] // f * f, img.shape[1] // f * f
    blocks = lin[:h, :w].reshape(h // f, f, w // f, f, 3).mean(axis=(1, 3))
    out = lin.copy()
    out[:h, :w] = np.repeat(np.repeat(blocks, f, axis=0), f, axis=1)
    out[h:, :] = out[h - 1:h, :]  # the last partial rows and columns repeat their neighbours
    out[:, w:] = out[:, w - 1:w]
    return linear_to_srgb(out), FaultLabels(blur=level / len(LEVELS))


def resaturate(img: np.ndarray, gain: float) -> np.ndarray:
    """Each pixel's distance from its own grey (same luminance) times `gain`, in linear light:
    luminance stays, colours past the gamut clip as a camera's pipeline clips them."""
    lin = srgb_to_linear(img)
    grey = luminance(lin)[..., None]
    return linear_to_srgb(grey + gain * (lin - grey))


@fault("oversaturation")
def oversaturation(img, level, rng):
    return resaturate(img, SATURATION_GAIN[level - 1]), FaultLabels(colour_cast=level / len(LEVELS))


@fault("desaturation")
def desaturation(img, level, rng):
    return resaturate(img, SATURATION_KEPT[level - 1]), FaultLabels(colour_cast=level / len(LEVELS))


@dataclass(frozen=True)
class PhotoStats:
    """What decides which faults a photo can have (`applies`)."""

    luminance: float  # mean linear luminance, 0 black .. 1 white (mid-grey 0.18)
    chroma: float  # mean spread between a pixel's largest and smallest sRGB channel, 0 grey .. 1


def applies(kind: str, stats: PhotoStats) -> bool:
    """Whether `kind` is a fault for this photo (see the limits above): no brightening of a night
    shot, no darkening of a blown-out one, no saturation change of a grey one."""
    if kind == "over_exposure":
        return stats.luminance >= OVER_EXPOSURE_MIN_LUMINANCE
    if kind == "under_exposure":
        return stats.luminance <= UNDER_EXPOSURE_MAX_LUMINANCE
    if kind in ("oversaturation", "desaturation"):
        return stats.chroma >= MIN_CHROMA
    return True


def mean_luminance(img: np.ndarray) -> float:
    """Mean linear luminance of a uint8 sRGB photo (0 black .. 1 white; mid-grey 0.18)."""
    return float(luminance(srgb_to_linear(img)).mean())


def photo_stats(img: np.ndarray) -> PhotoStats:
    """A uint8 sRGB photo's `PhotoStats` (chroma on the encoded values: what a viewer sees as colour)."""
    spread = img.max(axis=-1).astype(np.float64) - img.min(axis=-1)
    return PhotoStats(mean_luminance(img), float(spread.mean() / 255.0))


# -- broken frames ---------------------------------------------------------------------------
BROKEN: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {}


def broken(name: str):
    def register(fn):
        BROKEN[name] = fn
        return fn

    return register


def zero_yuv_rgb() -> np.ndarray:
    """The RGB an all-zero YUV buffer decodes to (BT.601 limited range): a saturated green."""
    from edgeiqa.runtime.yuv import yuv420_to_rgb

    planes = np.zeros((3, 2), np.uint8)  # NV12 of a 2x2 frame: 2 rows of Y, 1 row of UV
    return yuv420_to_rgb(planes, "nv12", "bt601", "limited")[0, 0]


@broken("flat")
def flat_frame(img, rng):
    colour = rng.integers(0, 256, 3).astype(np.uint8)
    return np.broadcast_to(colour, img.shape).copy()


@broken("zero_yuv_green")
def zero_yuv_green(img, rng):
    return np.broadcast_to(zero_yuv_rgb(), img.shape).copy()


@broken("sensor_noise")
def sensor_noise(img, rng):
    return rng.integers(0, 256, img.shape, dtype=np.uint8)


@broken("lens_cap")
def lens_cap(img, rng):
    """Almost no light reaches the sensor: read noise only, pushed by a high gain."""
    lin = sensor_capture(np.zeros(img.shape), 6.0, rng) + 0.002
    return linear_to_srgb(lin)


@broken("torn_readout")
def torn_readout(img, rng):
    """The read-out stops partway: the last good row repeats, the rest is shifted garbage."""
    h = img.shape[0]
    cut = int(rng.integers(h // 5, h // 2))
    out = img.copy()
    out[cut:] = img[cut - 1]
    band = slice(cut, min(h, cut + h // 6))
    out[band] = np.roll(img[band], int(rng.integers(img.shape[1] // 4, img.shape[1] // 2)), axis=1)
    out[band] = np.clip(out[band].astype(np.int16) + rng.integers(-60, 60, out[band].shape), 0, 255)
    return out


@broken("partial_readout")
def partial_readout(img, rng):
    """Only the top of the frame arrived; the buffer below is still zero (or a fill value)."""
    h = img.shape[0]
    cut = int(rng.integers(h // 6, h // 3))
    out = np.zeros_like(img) if rng.random() < 0.5 else np.broadcast_to(zero_yuv_rgb(), img.shape).copy()
    out[:cut] = img[:cut]
    return out


@broken("saturated")
def saturated(img, rng):
    """Gross over-exposure: every photosite clips (a few dark specks left)."""
    return expose(img, 7.0)


BROKEN_LABELS = FaultLabels(broken=1.0)


def render(img: np.ndarray, kind: str, level: int, rng: np.random.Generator) -> tuple[np.ndarray, FaultLabels]:
    """One faulty copy of a uint8 RGB photo. `kind` is a fault or 'broken:<name>' (level ignored)."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 RGB photo, got {img.dtype} {img.shape}")
    if kind.startswith("broken:"):
        name = kind.split(":", 1)[1]
        if name not in BROKEN:
            raise ValueError(f"unknown broken frame {name!r}; known: {', '.join(BROKEN)}")
        return BROKEN[name](img, rng), BROKEN_LABELS
    if kind not in FAULTS:
        raise ValueError(f"unknown camera fault {kind!r}; known: {', '.join(FAULTS)}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level}")
    return FAULTS[kind](img, level, rng)
