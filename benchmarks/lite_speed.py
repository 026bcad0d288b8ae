"""ms/img of the EfficientNet-Lite scoring models on this machine, side by side in one run.

Each backbone is the full scoring model (uint8 frames -> normalise -> stage statistics -> gated
head), random head weights (speed does not depend on them), at 512x512, batch 8: PyTorch eager
fp32 (NCHW and channels_last), bf16 autocast, and ONNX Runtime fp32, int8-cpu and int8 on the
same inputs. Writes
benchmarks/results/lite_speed.json; the README's model table quotes it next to the CV SRCC.

    python benchmarks/lite_speed.py [--size 512] [--batch 8] [--backbones efficientnet-lite0,...]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _time(fn, frames: np.ndarray, min_s: float = 3.0) -> float:
    fn(frames)  # warm-up
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < min_s:
        fn(frames)
        n += 1
    return (time.perf_counter() - t0) / n / len(frames) * 1000.0


def measure(alias: str, size: int, batch: int) -> dict[str, float]:
    from edgeiqa.export.onnx_export import export_onnx, ort_session
    from edgeiqa.export.quantize import to_int8_qdq
    from edgeiqa.train.backbones import create_backbone
    from edgeiqa.train.heads import IQAHead
    from edgeiqa.train.model import IQAModel

    bb = create_backbone(alias, image_size=size)
    model = IQAModel(bb, IQAHead(bb.embed_dim, 512, "gated")).eval()
    frames = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    x = torch.from_numpy(frames)
    row: dict[str, float] = {"embed_dim": bb.embed_dim}
    with torch.inference_mode():
        def nchw(f: np.ndarray) -> torch.Tensor:  # normalised, then made plain NCHW-contiguous
            return model.head(model.backbone(model.normalize(torch.from_numpy(f)).contiguous()).float())

        row["eager_fp32_nchw"] = _time(nchw, frames)
        cl = model.to(memory_format=torch.channels_last)
        row["eager_fp32_channels_last"] = _time(lambda f: cl(torch.from_numpy(f)), frames)

        def bf16(f: np.ndarray) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return cl(torch.from_numpy(f))

        row["eager_bf16_autocast"] = _time(bf16, frames)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        export_onnx(model.to(memory_format=torch.contiguous_format), x[:2], path)
        sess = ort_session(path)
        row["onnxruntime_fp32"] = _time(lambda f: sess.run(None, {"frames": f}), frames)
        # int8 speed only (random calibration frames: the accuracy of int8 is in the README's CV table).
        for precision, flavour in (("int8-cpu", "cpu"), ("int8", "tensorrt")):
            q = Path(tmp) / f"m.{precision}.onnx"
            to_int8_qdq(path, q, frames, flavour)
            qs = ort_session(q)
            row[f"onnxruntime_{precision}"] = _time(lambda f, s=qs: s.run(None, {"frames": f}), frames)
    row["ort_vs_eager_nchw"] = row["eager_fp32_nchw"] / row["onnxruntime_fp32"]
    row["ort_vs_bf16"] = row["eager_bf16_autocast"] / row["onnxruntime_fp32"]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbones", default="efficientnet-lite0,efficientnet-lite1,efficientnet-lite2")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "lite_speed.json"))
    args = p.parse_args()
    rows = {}
    for alias in [a for a in args.backbones.split(",") if a]:
        rows[alias] = measure(alias, args.size, args.batch)
        print(alias, {k: round(v, 2) for k, v in rows[alias].items()}, flush=True)
    result = {"size": args.size, "batch": args.batch, "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "unit": "ms per image", "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
