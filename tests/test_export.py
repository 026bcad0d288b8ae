"""Export: the bundle against the PyTorch checkpoint, every precision, and every refusal."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from edgeiqa.export.exporter import ExportError, export_bundle
from edgeiqa.export.options import CheckOptions, ExportOptions, GraphOptions, InputOptions
from edgeiqa.runtime.bundle import INPUT_NAME, load_bundle

EDGEIQA = [sys.executable, "-m", "edgeiqa"]


def _predict(checkpoint: Path, images: list[Path]) -> dict[str, float]:
    out = subprocess.run([*EDGEIQA, "predict", str(checkpoint), *map(str, images), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return {d["path"]: d["score"] for d in map(json.loads, out.stdout.strip().splitlines())}


def _ort_scores(onnx_path: Path, frames: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return sess.run(None, {INPUT_NAME: frames})[0]


def test_fp32_onnx_matches_predict_on_image_files(trained, bundle):
    root, ckpt = trained
    images = sorted((root / "images").glob("*.png"))[:10]
    expected = _predict(ckpt, images)
    b = load_bundle(bundle)
    from edgeiqa.runtime.preprocess import load_frame

    frames = np.stack([load_frame(p, b.height, b.width, b.input["resize"], b.input["interpolation"]) for p in images])
    got = _ort_scores(bundle / "model.fp32.onnx", frames)
    lo, hi = b.manifest["score"]["scale"]["lo"], b.manifest["score"]["scale"]["hi"]
    for p, s in zip(images, got):
        assert (s - lo) / (hi - lo) == pytest.approx((expected[str(p)] - lo) / (hi - lo), abs=1e-4)


def test_manifest_contract(bundle):
    m = load_bundle(bundle).manifest
    assert m["input"]["dtype"] == "uint8" and m["input"]["layout"] == "NHWC" and m["input"]["normalization_baked"]
    assert m["fold"]["max_abs_diff_random"] <= 1e-5 and m["fold"]["max_abs_diff_real"] <= 1e-5
    precisions = {e["precision"]: e for e in m["models"]}
    assert set(precisions) == {"fp32", "fp16", "int8", "int8-cpu", "int8-cpu-avx2", "int8-dynamic"}
    assert precisions["fp32"]["error_vs_pytorch"]["max_abs"] < 1e-2  # on the 0-100 MOS scale
    for p in ("fp16", "int8", "int8-dynamic"):
        assert np.isfinite(precisions[p]["error_vs_fp32"]["max_abs"])
    assert "QuantizeLinear" not in precisions["fp32"]["ops"]
    assert set(m["files"]) == {e["file"] for e in m["models"]} | {"edgeiqa_bundle.h", "reference.json",
                                                                   "reference.frames.u8"}
    for key in ("tools", "metrics", "score", "output", "schema_version"):
        assert key in m
    # The folded select head is Gemm -> Split -> one activation per group -> Concat -> Gemm.
    assert {"Gemm", "Split", "Concat"} <= set(precisions["fp32"]["ops"])


@pytest.mark.parametrize("precision", ["fp16", "int8", "int8-cpu-avx2"])
def test_reduced_precisions_run_in_onnxruntime(bundle, precision):
    """Graphs exact on every CPU (int8-cpu and int8-dynamic saturate without VNNI: test_cpu_class)."""
    frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    a = _ort_scores(bundle / "model.fp32.onnx", frames)
    b = _ort_scores(bundle / f"model.{precision}.onnx", frames)
    assert b.shape == (3,) and np.all(np.isfinite(b))
    assert np.abs(a - b).max() < 10.0  # on the 0-100 scale: close, not identical


def test_int8_qdq_graph_is_explicitly_quantised(bundle):
    import onnx

    ops = {n.op_type for n in onnx.load(str(bundle / "model.int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_float_input_bundle_scores_like_the_uint8_one(trained, bundle, tmp_path):
    from edgeiqa.runtime import Scorer

    export_bundle(trained[1], tmp_path / "f", ExportOptions(input=InputOptions(float_input=True)))
    images = sorted((trained[0] / "images").glob("*.png"))[:6]
    a = [r.score for r in Scorer.load(bundle, precision="fp32").score(images)]
    b = [r.score for r in Scorer.load(tmp_path / "f").score(images)]
    assert np.allclose(a, b, atol=1e-3)
    assert load_bundle(tmp_path / "f").input["layout"] == "NCHW"


def test_lora_checkpoint_exports_merged(tmp_path):
    import onnx
    from bundles import train_checkpoint, write_dataset

    root = write_dataset(tmp_path / "d")
    ckpt = train_checkpoint(root, tmp_path / "lora", regime="lora", head="gated", epochs=2, lr=1e-2)
    res = export_bundle(ckpt, tmp_path / "b")
    assert any("merged" in n for n in res.manifest["notes"])
    names = [i.name for i in onnx.load(str(tmp_path / "b/model.fp32.onnx")).graph.initializer]
    assert not any("lora" in n for n in names)
    images = sorted((root / "images").glob("*.png"))[:4]
    expected = _predict(ckpt, images)
    from edgeiqa.runtime import Scorer

    got = Scorer.load(tmp_path / "b").score(images)
    for p, r in zip(images, got):
        assert r.score == pytest.approx(expected[str(p)], abs=1e-2)


def test_existing_bundle_is_refused_without_force(trained, bundle, tmp_path):
    out = tmp_path / "b"
    shutil.copytree(bundle, out)
    with pytest.raises(ExportError, match="already holds a bundle.*--force"):
        export_bundle(trained[1], out)
    export_bundle(trained[1], out, ExportOptions(force=True))
    assert {e["precision"] for e in load_bundle(out).manifest["models"]} == {"fp32"}


def test_unreadable_calibration_images_fail_without_a_half_written_bundle(trained, tmp_path):
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(12):
        (calib / f"{i}.jpg").write_bytes(b"\xff\xd8\xff garbage" if i % 4 else b"")
    out = tmp_path / "b"
    with pytest.raises(ExportError, match="at least 8 readable images.*12 unreadable"):
        export_bundle(trained[1], out, ExportOptions(graphs=GraphOptions(("fp32", "int8"), calib=str(calib))))
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".b.")]


def test_bad_checkpoints_get_clear_messages(trained, tmp_path):
    res = subprocess.run([*EDGEIQA, "export", str(tmp_path / "nope"), "--out", str(tmp_path / "b")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "not found" in res.stderr and "Traceback" not in res.stderr
    bad = tmp_path / "ckpt"
    shutil.copytree(trained[1], bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["head"]["name"] = "swishy"
    cfg["train"]["head"] = "swishy"
    (bad / "config.json").write_text(json.dumps(cfg))
    res = subprocess.run([*EDGEIQA, "export", str(bad), "--out", str(tmp_path / "b")], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1 and "unknown head 'swishy'" in res.stderr and "Traceback" not in res.stderr
    shutil.copy2(trained[1] / "config.json", bad / "config.json")
    (bad / "model.safetensors").write_bytes(b"\x00" * 64)
    res = subprocess.run([*EDGEIQA, "export", str(bad), "--out", str(tmp_path / "b")], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1 and "sha256" in res.stderr
    assert not (tmp_path / "b").exists()


def test_trt_without_tensorrt_says_so_and_still_writes_the_onnx_bundle(trained, tmp_path):
    res = subprocess.run([*EDGEIQA, "export", str(trained[1]), "--out", str(tmp_path / "b"), "--trt"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 3
    assert "--trt" in res.stderr and ("TensorRT" in res.stderr or "CUDA" in res.stderr)
    assert load_bundle(tmp_path / "b").find("onnx", "fp32")


def test_triton_repository_parses_as_a_model_config(trained, tmp_path):
    pb = pytest.importorskip("tritonclient.grpc.model_config_pb2")
    from google.protobuf import text_format

    export_bundle(trained[1], tmp_path / "b", ExportOptions(triton=str(tmp_path / "repo")))
    (model_dir,) = list((tmp_path / "repo").iterdir())
    cfg = text_format.Parse((model_dir / "config.pbtxt").read_text(), pb.ModelConfig())
    assert cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 32
    assert cfg.input[0].name == INPUT_NAME and list(cfg.input[0].dims) == [32, 32, 3]
    assert cfg.input[0].data_type == pb.TYPE_UINT8 and cfg.output[0].data_type == pb.TYPE_FP32
    assert list(cfg.output[0].reshape.shape) == [] and cfg.dynamic_batching.preferred_batch_size
    sess = ort.InferenceSession(str(model_dir / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].name == INPUT_NAME


def test_prune_reports_its_cost(trained, tmp_path):
    res = export_bundle(trained[1], tmp_path / "b", ExportOptions(graphs=GraphOptions(prune=0.3)))
    fold = res.manifest["fold"]
    assert fold["prune_eps"] == 0.3 and np.isfinite(fold["max_abs_diff_real"])


def test_ship_keeps_only_the_named_precisions(trained, tmp_path):
    from edgeiqa.runtime import Scorer

    res = export_bundle(trained[1], tmp_path / "b",
                        ExportOptions(graphs=GraphOptions(("fp32", "int8"), ship=("int8",))))
    assert [m["precision"] for m in res.manifest["models"]] == ["int8"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "edgeiqa_bundle.h", "manifest.json", "model.int8.onnx", "reference.frames.u8", "reference.json"]
    assert res.manifest["models"][0]["error_vs_fp32"]["max_abs"] >= 0
    scorer = Scorer.load(tmp_path / "b")  # no fp32 in the bundle: the best shipped model is used
    assert scorer.backend.precision == "int8"
    with pytest.raises(ExportError, match="--ship"):
        export_bundle(trained[1], tmp_path / "c", ExportOptions(graphs=GraphOptions(("fp32",), ship=("int8",))))


def test_the_uint8_input_feeds_only_a_cast(bundle):
    """TensorRT: a UINT8 network input may feed a Cast and nothing else (NVIDIA/TensorRT#3985)."""
    import onnx
    from edgeiqa.runtime.bundle import INPUT_NAME

    manifest = json.loads((bundle / "manifest.json").read_text())
    for m in manifest["models"]:
        graph = onnx.load(str(bundle / m["file"]), load_external_data=False).graph
        consumers = [n for n in graph.node if INPUT_NAME in n.input]
        assert [n.op_type for n in consumers] == ["Cast"], (m["file"], [n.op_type for n in consumers])


def test_export_fails_when_a_measured_error_exceeds_its_tolerance(trained, tmp_path, monkeypatch):
    """The checks are enforced, not only recorded; --no-check writes the bundle anyway."""
    import edgeiqa.export.checks as checks
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import ExportOptions

    monkeypatch.setitem(checks.TOLERANCES, "fp32", (0.0, 0.0))  # no exporter is bit-exact: this must trip
    with pytest.raises(checks.ExportCheckError, match="error vs pytorch"):
        export_bundle(trained[1], tmp_path / "b", ExportOptions())
    assert not (tmp_path / "b").exists()  # nothing half-written
    res = export_bundle(trained[1], tmp_path / "b", ExportOptions(checks=CheckOptions(enforce=False)))
    assert (res.bundle / "manifest.json").is_file()


def test_tolerances_flag_int8_errors_in_mos_points():
    from edgeiqa.export.checks import violations

    models = [{"file": "model.int8.onnx", "precision": "int8", "error_vs_fp32": {"max_abs": 25.0, "mean_abs": 1.0}},
              {"file": "model.fp16.onnx", "precision": "fp16", "error_vs_fp32": {"max_abs": 0.1, "mean_abs": 0.01}}]
    bad = violations(models, {}, mos_range=100.0)
    assert len(bad) == 1 and "model.int8.onnx" in bad[0]
    models[1]["rank_agreement_vs_fp32"] = 0.9
    assert any("orders the check images differently" in b for b in violations(models, {}, mos_range=100.0))


def _initializers(graph):
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in graph.initializer}


def test_int8_qdq_follows_tensorrt_rules_and_int8_cpu_is_u8s8(bundle):
    """int8: symmetric int8 (zero points 0), per-channel weights, no DequantizeLinear of an int32
    bias, the folded head in float. int8-cpu: uint8 activations, int8 weights."""
    import numpy as np
    import onnx

    for precision, act_dtype in (("int8", np.int8), ("int8-cpu", np.uint8)):
        graph = onnx.load(str(bundle / f"model.{precision}.onnx")).graph
        inits = _initializers(graph)
        producers = {o: n for n in graph.node for o in n.output}
        dq = [n for n in graph.node if n.op_type == "DequantizeLinear"]
        assert dq, precision
        per_channel = 0
        for n in dq:
            x, scale = n.input[0], inits.get(n.input[1])
            zp = inits.get(n.input[2]) if len(n.input) > 2 else None
            if x in inits:  # a constant: a weight, or an int32 bias (ONNX Runtime only: TensorRT rejects it)
                allowed = (np.int8,) if precision == "int8" else (np.int8, np.int32)
                assert inits[x].dtype in allowed, (precision, n.name, inits[x].dtype)
                assert zp is None or not zp.any()
                per_channel += scale is not None and scale.size > 1
            elif zp is not None:  # an activation
                assert zp.dtype == act_dtype, (precision, n.name, zp.dtype)
                if precision == "int8":
                    assert not zp.any(), "TensorRT has no asymmetric int8"
        assert per_channel > 0
        consts = set(inits)
        residual = [n for n in graph.node if n.op_type == "Add" and not any(i in consts for i in n.input)
                    and not any(i.startswith("head.") for i in n.input)]
        read_quantized = [all(producers.get(i) is not None and producers[i].op_type == "DequantizeLinear"
                              for i in n.input) for n in residual]
        if precision == "int8-cpu":  # uint8 end to end: ONNX Runtime fuses QLinearAdd on the residual stream
            assert residual and all(read_quantized), precision
        else:  # TensorRT flavour: what Conv/MatMul write stays float
            assert not any(read_quantized), precision
        for n in graph.node:
            if any(i.startswith("head.") for i in n.input):  # the folded head reads float tensors
                assert all(producers.get(i) is None or producers[i].op_type != "DequantizeLinear"
                           for i in n.input), (precision, n.name)
    manifest = json.loads((bundle / "manifest.json").read_text())
    errors = {m["precision"]: m["error_vs_fp32"]["max_abs"] for m in manifest["models"] if "error_vs_fp32" in m}
    assert set(errors) >= {"int8", "int8-cpu"}


def test_static_batch_export_has_a_fixed_shape_and_the_scorer_pads(trained, tmp_path, photo):
    import onnx
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import ExportOptions, InputOptions
    from edgeiqa.runtime import Scorer

    res = export_bundle(trained[1], tmp_path / "static", ExportOptions(input=InputOptions(static_batch=4)))
    assert res.manifest["input"]["batch"] == 4
    graph = onnx.load(str(tmp_path / "static" / "model.fp32.onnx")).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    with Scorer.load(tmp_path / "static") as scorer:
        one = scorer.score([photo])  # 1 frame, padded to 4
        six = scorer.score([photo] * 6)  # 4, then 2 padded to 4
    assert one[0].ok and [r.score for r in six] == pytest.approx([one[0].score] * 6, abs=1e-4)


@pytest.mark.parametrize("n", [1, 3])
def test_static_batch_int8_calibrates_for_any_batch(trained, tmp_path, n):
    """Calibration feeds a fixed-batch graph batches of exactly N (it fed 8 whatever N was)."""
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import ExportOptions, GraphOptions, InputOptions

    res = export_bundle(trained[1], tmp_path / f"static{n}", ExportOptions(
        input=InputOptions(static_batch=n), graphs=GraphOptions(("fp32", "int8", "int8-cpu"))))
    assert res.manifest["input"]["batch"] == n
    assert {m["precision"] for m in res.manifest["models"]} == {"fp32", "int8", "int8-cpu"}


def test_export_uses_the_checkpoints_recorded_preprocessing(trained, tmp_path):
    """A timm upgrade that changed the backbone's default mean/std must not change the bundle."""
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import ExportOptions

    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained[1], ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["preprocess"]["mean"] = [0.25, 0.5, 0.75]  # as if recorded by another timm
    (ckpt / "config.json").write_text(json.dumps(cfg))
    res = export_bundle(ckpt, tmp_path / "b", ExportOptions())
    assert res.manifest["input"]["mean"] == [0.25, 0.5, 0.75]


def test_a_one_image_example_keeps_the_batch_dynamic(tmp_path):
    """torch.export specialises a batch of one through SigLIP's attention (the graph then refused
    16 frames): an export whose check set holds a single image must still take any batch."""
    import onnx
    import torch
    import transformers as tf
    from edgeiqa.export.onnx_export import export_onnx, run_onnx
    from edgeiqa.train.backbones import create_backbone

    cfg = tf.SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                image_size=32, patch_size=8)
    tf.SiglipVisionModel(cfg).save_pretrained(tmp_path / "siglip")
    backbone = create_backbone(f"hf:{tmp_path / 'siglip'}", pretrained=True).eval()

    class Scoring(torch.nn.Module):
        def forward(self, frames):
            return backbone(frames.permute(0, 3, 1, 2).float() / 255).mean(1)

    one = torch.randint(0, 256, (1, 32, 32, 3), dtype=torch.uint8)
    export_onnx(Scoring(), one, tmp_path / "m.onnx")
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert not graph.input[0].type.tensor_type.shape.dim[0].dim_value  # symbolic, not 1
    frames = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    assert run_onnx(tmp_path / "m.onnx", frames).shape == (16,)


def test_export_flags_are_the_options_fields():
    """Every export flag lands in its ExportOptions group; defaults are the dataclass's own."""
    from edgeiqa.export.cli import export_parser
    from edgeiqa.export.options import ExportOptions, InputOptions, TensorRTOptions
    from edgeiqa.runtime.cli_args import dataclass_from_flags

    parser = export_parser()
    assert dataclass_from_flags(ExportOptions, parser.parse_args(["ckpt", "--out", "b"])) == ExportOptions()
    args = parser.parse_args(["ckpt", "--out", "b", "--precision", "fp32,int8", "--ship", "int8", "--calib-count",
                              "16", "--input", "nv12", "--frame", "1920x1080", "--yuv-range", "full", "--trt",
                              "--batch", "1,1,8", "--trt-version-compatible", "--no-check", "--force"])
    opts = dataclass_from_flags(ExportOptions, args)
    assert opts.graphs.precisions == ("fp32", "int8") and opts.graphs.ship == ("int8",)
    assert opts.graphs.calib_count == 16
    assert opts.input == InputOptions("nv12", (1080, 1920), "bt601", "full")
    assert opts.tensorrt == TensorRTOptions(build=True, batch=(1, 1, 8), version_compatible=True)
    assert not opts.checks.enforce and opts.force
    groups = {g.title for g in parser._action_groups}
    assert {"graphs", "input", "TensorRT", "checks"} <= groups
    with pytest.raises(SystemExit):
        parser.parse_args(["ckpt", "--out", "b", "--batch", "8,1,1"])  # min <= opt <= max, as a usage error
