"""The runtime: every input kind, every bad input, order, bundle checks, and no torch."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from edgeiqa.runtime import BundleError, ImageDecodeError, Scorer, load_bundle
from edgeiqa.runtime.preprocess import decode, load_frame
from PIL import Image

EDGEIQA = [sys.executable, "-m", "edgeiqa"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scorer(bundle):
    return Scorer.load(bundle, backend="onnxruntime")



def test_runtime_never_imports_torch(bundle, photo):
    code = (
        "import sys\n"
        "from edgeiqa.runtime import Scorer\n"
        f"r = Scorer.load({str(bundle)!r}).score([{str(photo)!r}])\n"
        "assert r[0].ok, r\n"
        "heavy = [m for m in ('torch', 'timm', 'transformers', 'peft') if m in sys.modules]\n"
        "print(r[0].score, heavy)\n"
        "raise SystemExit(1 if heavy else 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_input_kind_gives_the_same_score(scorer, photo):
    arr = np.asarray(Image.open(photo).convert("RGB"))
    results = scorer.score([photo, str(photo), photo.read_bytes(), Image.open(photo), arr])
    scores = [r.score for r in results]
    assert all(r.ok for r in results), results
    # Paths, bytes and PIL images share the JPEG draft decode; the array skips it (already decoded).
    assert np.allclose(scores[:4], scores[0], atol=1e-5)
    assert abs(scores[4] - scores[0]) < 5.0


def test_modes_are_converted(scorer, tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    grey = Image.fromarray(rgb[..., 0])
    rgba = Image.fromarray(np.dstack([rgb, np.full((40, 50), 255, np.uint8)]))
    grey.save(tmp_path / "grey.png")
    rgba.save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "16bit.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.gif")
    items = [tmp_path / n for n in ("grey.png", "rgba.png", "cmyk.jpg", "16bit.png", "palette.gif")]
    results = scorer.score(items)
    assert all(r.ok for r in results), results
    # 16-bit grey is scaled, not clipped: it scores like its 8-bit twin.
    assert results[3].score == pytest.approx(results[0].score, abs=1e-3)
    assert np.array_equal(np.asarray(decode(tmp_path / "rgba.png")), rgb)


def test_exif_orientation_is_applied(scorer, tmp_path):
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (30, 60, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    img.save(tmp_path / "tagged.png", exif=exif)
    img.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "upright.png")
    assert decode(tmp_path / "tagged.png").size == (30, 60)
    a, b = scorer.score([tmp_path / "tagged.png", tmp_path / "upright.png"])
    assert a.score == pytest.approx(b.score, abs=1e-5)


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good, "JPEG")
    png = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(png, "PNG")
    files = {"zero.jpg": b"", "truncated.jpg": good.getvalue()[:300], "truncated.png": png.getvalue()[:60],
             "text.jpg": b"this is not an image\n", "garbage.png": os.urandom(500)}
    out = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        out[name] = tmp_path / name
    return out


def test_bad_inputs_get_per_item_errors_and_the_batch_goes_on(scorer, photo, tmp_path):
    bad = _bad_files(tmp_path)
    tiny = tmp_path / "1x1.png"
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(tiny)
    items = [photo, *bad.values(), tmp_path / "missing.jpg", tiny, photo]
    results = scorer.score(items, batch_size=3)
    assert len(results) == len(items)
    assert results[0].ok and results[-1].ok and results[-2].ok  # a 1x1 image is valid, just tiny
    assert results[0].score == pytest.approx(results[-1].score)
    for r in results[1:-2]:
        assert not r.ok and r.score is None and r.error
    assert "zero-byte" in results[1].error and "no such file" in results[6].error


def test_decompression_bombs_are_refused(scorer, tmp_path, monkeypatch):
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10000 px > 2x the limit: Pillow's own guard
    (r,) = scorer.score([tmp_path / "bomb.png"])
    assert not r.ok and "pixel limit" in r.error


def test_fuzz_corrupted_files_always_get_a_score_or_an_error(scorer, tmp_path):
    rng = np.random.default_rng(1234)
    base = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(base, "JPEG", quality=80)
    png = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(png, "PNG")
    paths = []
    for i in range(300):
        data = bytearray((base if i % 2 else png).getvalue())
        kind = i % 3
        if kind == 0:  # flip random bytes
            for j in rng.integers(0, len(data), size=int(rng.integers(1, 20))):
                data[j] = int(rng.integers(0, 256))
        elif kind == 1:  # truncate
            data = data[: int(rng.integers(0, len(data)))]
        else:  # splice random bytes in
            at = int(rng.integers(0, len(data)))
            data[at:at] = os.urandom(int(rng.integers(1, 64)))
        p = tmp_path / f"f{i}.{'jpg' if i % 2 else 'png'}"
        p.write_bytes(bytes(data))
        paths.append(p)
    results = scorer.score(paths, batch_size=16)
    assert len(results) == 300
    for p, r in zip(paths, results):
        assert r.source == str(p)
        assert (r.ok and np.isfinite(r.score)) or (not r.ok and r.error)
    assert sum(r.ok for r in results) > 0 and sum(not r.ok for r in results) > 0


def test_thread_pool_keeps_input_order(scorer, trained):
    images = sorted((trained[0] / "images").glob("*.png"))
    one_by_one = [scorer.score([p])[0].score for p in images]
    pooled = scorer.score(images, batch_size=3, workers=4)
    assert [r.source for r in pooled] == [str(p) for p in images]
    assert np.allclose([r.score for r in pooled], one_by_one, atol=1e-5)


def test_score_array_fast_path_and_shape_errors(scorer, trained):
    images = sorted((trained[0] / "images").glob("*.png"))[:4]
    frames = np.stack([load_frame(p, 32, 32, "squash", scorer.interpolation) for p in images])
    fast = scorer.score_array(frames)
    assert np.allclose(fast, [r.score for r in scorer.score(images)], atol=1e-5)
    with pytest.raises(ValueError, match=r"uint8 \[N, 32, 32, 3\]"):
        scorer.score_array(frames.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        scorer.score_array(frames[:, :16])
    with pytest.raises(ImageDecodeError):
        load_frame(np.zeros((4, 4, 5), np.uint8), 32, 32)


def test_precision_selection(bundle):
    for precision in ("fp32", "fp16", "int8", "int8-dynamic"):
        s = Scorer.load(bundle, precision=precision)
        assert s.backend.precision == precision
    with pytest.raises(BundleError, match="no ONNX model of precision bf16"):
        Scorer.load(bundle, precision="bf16")


def test_tampered_bundle_is_refused(bundle, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    data = bytearray((b / "model.fp32.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (b / "model.fp32.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match its sha256.*re-copy or re-export"):
        Scorer.load(b, precision="fp32")  # the load checks the file it will run
    out = subprocess.run([*EDGEIQA, "info", str(b)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "NO:" in out.stdout


def test_wrong_schema_and_missing_bundles(bundle, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    m = json.loads((b / "manifest.json").read_text())
    m["schema_version"] = 99
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="schema version 99 is not supported"):
        load_bundle(b)
    (b / "manifest.json").write_text("{")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(b)
    with pytest.raises(BundleError, match="not an edgeiqa bundle"):
        load_bundle(tmp_path / "nowhere")
    (b / "manifest.json").unlink()
    out = subprocess.run([*EDGEIQA, "score", "--bundle", str(b), str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 1


def test_engine_for_another_gpu_or_tensorrt_version_is_refused(bundle, tmp_path):
    from edgeiqa.runtime.backends.tensorrt_backend import select_engine

    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    m = json.loads((b / "manifest.json").read_text())
    m["models"].append({"file": "model.fp16.sm87.trt10.3.0.engine", "format": "tensorrt", "precision": "fp16",
                        "tensorrt_version": "10.3.0", "compute_capability": "8.7"})
    (b / "manifest.json").write_text(json.dumps(m))
    bun = load_bundle(b, verify=False)
    assert select_engine(bun, "10.3.0", "8.7", None).file.endswith(".engine")
    with pytest.raises(BundleError, match="sm8.7/TensorRT 10.3.0.*this device is sm9.0.*rebuild with `edgeiqa "
                                          "export --trt` on this device"):
        select_engine(bun, "10.3.0", "9.0", None)
    with pytest.raises(BundleError, match="TensorRT 11.4"):
        select_engine(bun, "11.4.0.106", "8.7", None)
    with pytest.raises(BundleError, match="sha256"):  # the manifest lists an engine the bundle lacks
        load_bundle(b)
    # A version-compatible plan runs on later TensorRT (and the lean runtime), never on earlier.
    m["models"][-1]["version_compatible"] = True
    (b / "manifest.json").write_text(json.dumps(m))
    bun = load_bundle(b, verify=False)
    assert select_engine(bun, "11.4.0.106", "8.7", None).file.endswith(".engine")
    with pytest.raises(BundleError):
        select_engine(bun, "10.1.0", "8.7", None)


def test_tensorrt_is_never_auto_selected_without_a_gpu(bundle):
    from edgeiqa.runtime.backends import tensorrt_backend

    assert not tensorrt_backend.available()
    assert Scorer.load(bundle, backend="auto").backend.name == "onnxruntime"
    with pytest.raises((BundleError, Exception), match="TensorRT"):
        Scorer.load(bundle, backend="tensorrt")


def test_score_cli_table_json_and_exit_codes(bundle, photo, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    ok = subprocess.run([*EDGEIQA, "score", "--bundle", str(bundle), str(photo)], capture_output=True, text=True)
    assert ok.returncode == 0 and str(photo) in ok.stdout
    mixed = subprocess.run([*EDGEIQA, "score", "--bundle", str(bundle), "--json", str(photo.parent)],
                           capture_output=True, text=True)
    assert mixed.returncode == 2
    lines = [json.loads(x) for x in mixed.stdout.strip().splitlines()]
    assert {"path", "score"} <= set(next(x for x in lines if x["path"] == str(photo)))
    assert "error" in next(x for x in lines if x["path"] == str(bad))
    empty = tmp_path / "empty"
    empty.mkdir()
    none = subprocess.run([*EDGEIQA, "score", "--bundle", str(bundle), str(empty)], capture_output=True, text=True)
    assert none.returncode == 1 and "no images found" in none.stderr
    missing = subprocess.run([*EDGEIQA, "score", "--bundle", str(tmp_path / "nob"), str(photo)],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "not an edgeiqa bundle" in missing.stderr


def test_info_works_without_torch(bundle):
    code = ("import sys; sys.modules['torch'] = None; from edgeiqa.cli import main; "
            f"raise SystemExit(main(['info', {str(bundle)!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "uint8 NHWC 32x32x3" in out.stdout and "all files match" in out.stdout


def test_crop_rule_keeps_the_aspect_and_takes_the_centre():
    from edgeiqa.runtime.preprocess import load_frame

    # A 200x100 frame: left quarter red, middle half green, right quarter blue.
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, :50, 0] = 255
    img[:, 50:150, 1] = 255
    img[:, 150:, 2] = 255
    out = load_frame(img, 50, 50, "crop")
    assert out.shape == (50, 50, 3)
    inner = out[:, 2:-2]  # the kernel's support reaches a pixel past the crop's edges
    assert (inner[:, :, 1] == 255).all() and (inner[:, :, [0, 2]] == 0).all()  # only the green centre survives
    squash = load_frame(img, 50, 50, "squash")
    assert squash[:, 0, 0].min() == 255 and squash[:, -1, 2].min() == 255  # squash keeps the sides
    same = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert (load_frame(same, 64, 64, "crop") == same).all()  # at the input size: untouched


def test_a_12mp_jpeg_is_draft_decoded_and_cropped_like_a_small_one(tmp_path):
    """A camera frame far larger than the input takes the same documented path: DCT-scaled decode
    to the smallest scale that covers the input, then the antialiased resize and the centre crop."""
    from edgeiqa.runtime.preprocess import load_frame
    from PIL import Image

    yy, xx = np.mgrid[0:3000, 0:4000]
    big = np.stack([(xx / 16) % 256, (yy / 12) % 256, ((xx + yy) / 28) % 256], -1).astype(np.uint8)
    path = tmp_path / "frame.jpg"
    Image.fromarray(big).save(path, quality=92)
    assert decode(path, target=(256, 256)).size == (500, 375)  # 1/8 still covers 256 x 256
    assert decode(path, target=(512, 512)).size == (1000, 750)  # 1/4
    frame = load_frame(path, 256, 256, "crop")
    assert frame.shape == (256, 256, 3)
    direct = load_frame(big, 256, 256, "crop")  # no draft: the full-resolution array
    assert np.abs(frame.astype(int) - direct.astype(int)).mean() < 6


def test_scorer_is_a_context_manager_that_closes_its_backend(bundle, photo):
    from edgeiqa.runtime import Scorer

    with Scorer.load(bundle, backend="onnxruntime") as scorer:
        (r,) = scorer.score([photo])
        assert r.ok
    assert scorer.backend.session is None


def test_odd_inputs_get_per_item_errors_and_never_kill_the_call(scorer, photo):
    data = open(photo, "rb").read()
    (one,) = scorer.score(memoryview(data))  # a memoryview is one image, not a sequence of bytes
    assert one.ok
    items = [photo, None, [photo, photo], np.zeros((8, 8, 3), np.float32), bytearray(data), memoryview(data), 3.5]
    results = scorer.score(items)
    assert len(results) == len(items)
    assert [r.ok for r in results] == [True, False, False, False, True, True, False]
    assert "NoneType" in results[1].error and "uint8" in results[3].error


@pytest.mark.parametrize("argv", [["bench", "--bundle", "b", "--batch", "1,x"],
                                  ["export", "ckpt", "--out", "o", "--batch", "1,a"],
                                  ["export", "ckpt", "--out", "o", "--batch", "0,1,2"]])
def test_bad_batch_values_are_one_line_errors(argv):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "edgeiqa", *argv], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "positive integers" in res.stderr.strip().splitlines()[-1]


def test_onnxruntime_gpu_providers_get_the_device_index_and_a_persistent_trt_cache(tmp_path, monkeypatch):
    from edgeiqa.runtime.backends.onnxruntime_backend import provider_options

    monkeypatch.setenv("EDGEIQA_CACHE", str(tmp_path))
    assert provider_options("CUDAExecutionProvider", "cuda:1") == {"device_id": "1"}
    trt = provider_options("TensorrtExecutionProvider", "cuda:2")
    assert trt["device_id"] == "2" and trt["trt_engine_cache_path"].startswith(str(tmp_path))
    assert provider_options("CPUExecutionProvider", "cuda:1") == {}


def test_score_a_folder_in_shards_writing_json_lines_and_resuming(bundle, tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(7):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / f"p{i}.jpg")
    out = tmp_path / "scores.jsonl"
    for shard in ("0/2", "1/2"):
        res = subprocess.run([*EDGEIQA, "score", "--bundle", str(bundle), str(folder), "--out", str(out),
                              "--shard", shard], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in folder.glob("*.jpg"))  # no overlap, no gap
    # A killed run leaves a torn last line; --resume keeps what is there and does the rest.
    out.write_text("\n".join(out.read_text().splitlines()[:3]) + '\n{"path": "torn')
    res = subprocess.run([*EDGEIQA, "score", "--bundle", str(bundle), str(folder), "--out", str(out), "--resume"],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "3 already in" in res.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines() if x.startswith('{"path": "/')]
    assert len({r["path"] for r in rows}) == 7
    bad = subprocess.run([*EDGEIQA, "score", "--bundle", str(bundle), str(folder), "--shard", "2/2"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "0 <= I < N" in bad.stderr


def test_concurrent_score_calls_on_one_scorer_agree_with_serial_ones(scorer, trained):
    from concurrent.futures import ThreadPoolExecutor

    frames = np.random.default_rng(3).integers(0, 256, (6, scorer.height, scorer.width, 3), dtype=np.uint8)
    serial = scorer.score_array(frames)
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda i: scorer.score_array(frames[i:i + 1])[0], range(6)))
    assert np.allclose(parallel, serial, atol=1e-5)


def test_a_callers_lazily_opened_jpeg_is_not_mutated(tmp_path):
    from edgeiqa.runtime.preprocess import load_frame
    from PIL import Image

    path = tmp_path / "big.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)).save(path)
    img = Image.open(path)  # not loaded yet: draft() would shrink it in place
    load_frame(img, 64, 64, "crop")
    assert img.size == (1600, 1200)


def test_scorer_hashes_only_the_model_it_will_run(bundle, tmp_path):
    from edgeiqa.runtime import Scorer

    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    (b / "model.fp16.onnx").write_bytes(b"tampered")  # a file this Scorer will not open
    with Scorer.load(b, backend="onnxruntime", precision="fp32") as scorer:
        assert scorer.backend.precision == "fp32"
    with pytest.raises(BundleError, match="sha256"):
        Scorer.load(b, backend="onnxruntime", precision="fp16")


def test_crop_rule_upscales_a_small_photo_to_a_wide_frame():
    """A 512 px photo onto 1920x1080 (the scale's rounding put the box at -1e-14: Pillow refused it)."""
    from edgeiqa.runtime.preprocess import load_frame

    img = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    frame = load_frame(img, 1080, 1920, "crop", "bicubic")
    assert frame.shape == (1080, 1920, 3) and frame.dtype == np.uint8
