"""The offline default dataset: KADID-style distortions of the photographs scikit-image ships.

Labels come from a full-reference measure, the weak-label idea of KADIS-700k: every distorted
image is scored against its clean reference with SSIM (Wang et al. 2004; Gaussian window,
sigma 1.5, computed per RGB channel and averaged), reported as MOS = 100 * SSIM, clipped to
[0, 100]. SSIM is chosen because it responds to all three things the distortions change -
structure (blur, noise, compression, pixelation), contrast and luminance (brightness, contrast,
saturation, quantisation) - is monotone in the level of every distortion here (tested), and is
the measure most IQA readers can reproduce. Splits group by source photograph: held-out
references are photos the model never saw, not other crops of them.
"""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from edgeiqa.runtime.preprocess import IMAGE_SUFFIXES, decode
from PIL import Image, ImageEnhance
from scipy import ndimage
from tqdm.auto import tqdm

SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
Distortion = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
DISTORTIONS: dict[str, tuple[Distortion, tuple[float, ...]]] = {}


def distortion(name: str, levels: tuple[float, ...]) -> Callable[[Distortion], Distortion]:
    def register(fn: Distortion) -> Distortion:
        DISTORTIONS[name] = (fn, levels)
        return fn

    return register


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    kernel = kernel / kernel.sum()
    return _u8(np.stack([ndimage.convolve(img[..., c].astype(np.float64), kernel, mode="reflect")
                         for c in range(3)], axis=-1))


@distortion("gaussian_blur", (0.6, 1.2, 2.0, 3.2, 5.0))
def gaussian_blur(img, sigma, rng):
    return _u8(ndimage.gaussian_filter(img.astype(np.float64), sigma=(sigma, sigma, 0)))


@distortion("lens_blur", (1, 2, 3, 5, 7))
def lens_blur(img, radius, rng):
    r = int(radius)
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return _convolve(img, (x * x + y * y <= r * r).astype(np.float64))


@distortion("motion_blur", (3, 5, 9, 13, 19))
def motion_blur(img, length, rng):
    n = int(length)
    kernel = np.zeros((n, n))
    kernel[n // 2, :] = 1.0
    angle = float(rng.uniform(0, 180))
    kernel = ndimage.rotate(kernel, angle, reshape=False, order=1)
    return _convolve(img, np.maximum(kernel, 0) + 1e-12)


@distortion("white_noise", (6, 12, 22, 36, 56))
def white_noise(img, sigma, rng):
    return _u8(img + rng.normal(0, sigma, img.shape))


@distortion("impulse_noise", (0.01, 0.03, 0.06, 0.11, 0.18))
def impulse_noise(img, amount, rng):
    out = img.copy()
    mask = rng.random(img.shape[:2])
    out[mask < amount / 2] = 0
    out[mask > 1 - amount / 2] = 255
    return out


@distortion("multiplicative_noise", (0.06, 0.12, 0.22, 0.35, 0.5))
def multiplicative_noise(img, sigma, rng):
    return _u8(img * (1 + rng.normal(0, sigma, img.shape)))


def _reencode(img: np.ndarray, **save: object) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, **save)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


@distortion("jpeg", (40, 22, 12, 7, 3))
def jpeg(img, quality, rng):
    return _reencode(img, format="JPEG", quality=int(quality))


@distortion("jpeg2000", (36, 31, 27, 24, 21))
def jpeg2000(img, psnr_db, rng):
    # Target PSNR rather than a rate: rates hit a floor on small crops, where headers dominate.
    return _reencode(img, format="JPEG2000", quality_mode="dB", quality_layers=[float(psnr_db)])


@distortion("desaturate", (0.7, 0.5, 0.3, 0.15, 0.0))
def desaturate(img, factor, rng):
    return np.asarray(ImageEnhance.Color(Image.fromarray(img)).enhance(factor))


@distortion("oversaturate", (1.6, 2.2, 3.0, 4.0, 5.5))
def oversaturate(img, factor, rng):
    return np.asarray(ImageEnhance.Color(Image.fromarray(img)).enhance(factor))


@distortion("contrast_decrease", (0.8, 0.62, 0.46, 0.32, 0.2))
def contrast_decrease(img, factor, rng):
    return np.asarray(ImageEnhance.Contrast(Image.fromarray(img)).enhance(factor))


@distortion("brighten", (0.8, 0.65, 0.5, 0.38, 0.28))
def brighten(img, gamma, rng):
    return _u8(255.0 * (img / 255.0) ** gamma)


@distortion("darken", (1.3, 1.7, 2.2, 2.9, 3.8))
def darken(img, gamma, rng):
    return _u8(255.0 * (img / 255.0) ** gamma)


@distortion("pixelate", (2, 3, 4, 6, 9))
def pixelate(img, block, rng):
    h, w = img.shape[:2]
    small = Image.fromarray(img).resize((max(1, w // int(block)), max(1, h // int(block))), Image.Resampling.BOX)
    return np.asarray(small.resize((w, h), Image.Resampling.NEAREST))


@distortion("color_quantization", (48, 24, 12, 6, 3))
def color_quantization(img, colors, rng):
    return np.asarray(Image.fromarray(img).quantize(int(colors), dither=Image.Dither.NONE).convert("RGB"))


def ssim_mos(ref: np.ndarray, img: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    s = structural_similarity(ref, img, channel_axis=2, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=255)
    return float(np.clip(100.0 * s, 0.0, 100.0))


@dataclass
class Reference:
    name: str
    image: np.ndarray


def skimage_references() -> list[Reference]:
    import skimage.data

    return [Reference(n, getattr(skimage.data, n)()[..., :3]) for n in SKIMAGE_PHOTOS]


def folder_references(folder: Path) -> list[Reference]:
    files = sorted(f for f in Path(folder).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    return [Reference(f.stem, np.asarray(decode(f))) for f in files]


def _crops(ref: Reference, size: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """n size x size crops after scaling the shorter side to 1.25 * size (whole-scene context)."""
    img = Image.fromarray(ref.image)
    scale = 1.25 * size / min(img.size)
    img = img.resize((max(size, round(img.width * scale)), max(size, round(img.height * scale))),
                     Image.Resampling.LANCZOS)
    arr = np.asarray(img)
    out = []
    for _ in range(n):
        y = int(rng.integers(0, arr.shape[0] - size + 1))
        x = int(rng.integers(0, arr.shape[1] - size + 1))
        out.append(np.ascontiguousarray(arr[y:y + size, x:x + size]))
    return out


LABELS = ("ssim", "level")


def level_mos(level: int) -> float:
    """The 'level' label: 100 for the clean crop, 18 points less per level (10 at level 5)."""
    return 100.0 - 18.0 * level


def build_synthetic(out: str | Path, refs: str | Path | None = None, seed: int = 0, size: int = 192,
                    crops: int = 3, distortions: tuple[str, ...] | None = None, workers: int = 2,
                    progress: bool = True, labels: str = "ssim") -> Path:
    """Write images and synthetic.csv (path, mos, ref, distortion, level, ssim) under `out`.

    labels="ssim": MOS = 100 x SSIM against the clean crop (the weak FR label). labels="level":
    MOS from the distortion level alone (level_mos), which says only "cleaner is better" and is
    blind to content; the SSIM column is written either way.
    Deterministic for a seed: every image's randomness comes from (seed, ref, crop, type, level).
    """
    if labels not in LABELS:
        raise ValueError(f"unknown labels {labels!r}; known: {', '.join(LABELS)}")
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    references = folder_references(Path(refs)) if refs else skimage_references()
    names = distortions or tuple(DISTORTIONS)
    jobs = []
    for ri, ref in enumerate(references):
        for ci, clean in enumerate(_crops(ref, size, crops, np.random.default_rng([seed, ri]))):
            jobs.append((ref.name, ci, clean, "reference", 0))
            for di, dname in enumerate(names):
                for level in range(1, 6):
                    jobs.append((ref.name, ci, clean, dname, level, ri, di))

    def run(job: tuple) -> tuple[str, float, str, str, int]:
        ref_name, ci, clean, dname, level = job[:5]
        if dname == "reference":
            img, ssim = clean, 100.0
        else:
            fn, levels = DISTORTIONS[dname]
            rng = np.random.default_rng([seed, job[5], ci, job[6], level])
            img = fn(clean, levels[level - 1], rng)
            ssim = ssim_mos(clean, img)
        rel = f"images/{ref_name}_c{ci}_{dname}_{level}.png"
        Image.fromarray(img).save(out / rel, optimize=False, compress_level=1)
        return rel, (ssim if labels == "ssim" else level_mos(level)), ref_name, dname, level, ssim

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rows = list(tqdm(pool.map(run, jobs), total=len(jobs), desc="synthetic set", disable=not progress))
    tmp = out / "synthetic.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "mos", "ref", "distortion", "level", "ssim"])
        w.writerows((r, f"{m:.4f}", ref, d, lv, f"{ss:.4f}") for r, m, ref, d, lv, ss in rows)
    tmp.replace(out / "synthetic.csv")
    return out / "synthetic.csv"


def type_level_oracle_srcc(csv_path: Path, train_idx: list[int], test_idx: list[int]) -> float:
    """SRCC of an oracle that knows each test image's distortion type and level exactly and
    predicts the mean training label of that (type, level): the ceiling for any model that
    recognises distortions perfectly but ignores how content changes the FR label."""
    from edgeiqa.train.metrics import srcc

    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    groups: dict[tuple[str, str], list[float]] = {}
    for i in train_idx:
        groups.setdefault((rows[i]["distortion"], rows[i]["level"]), []).append(float(rows[i]["mos"]))
    overall = float(np.mean([float(rows[i]["mos"]) for i in train_idx]))
    pred = [float(np.mean(groups.get((rows[i]["distortion"], rows[i]["level"]), [overall]))) for i in test_idx]
    return srcc(np.array(pred), np.array([float(rows[i]["mos"]) for i in test_idx]))
