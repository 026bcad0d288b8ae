"""How far each precision may score from the one it derives from, as fractions of the MOS range.

One table for the exporter (edgeiqa.export.checks, on real check images) and for `edgeiqa
verify` (on the bundle's reference frames, on the user's own machine), so a graph is held to the
same bound where it is made and where it runs.
- fold: folded head vs the trained head, on the training scale: float rounding only;
- fp32 ONNX vs PyTorch, or fp32 on another CPU: the same arithmetic in another order;
- fp16 vs fp32: half-precision activations;
- int8 flavours vs fp32: quantisation. Measured on a CLIVE fold of the default
  (EfficientNet-Lite0): max 10-13, mean 1.2 MOS points on a 0-88 range, SRCC unchanged; on the
  demo's synthetic models mean errors of 1.5-3.3 points on 0-100.
"""

from __future__ import annotations

# (max_abs, mean_abs) as fractions of the MOS range.
TOLERANCES: dict[str, tuple[float, float]] = {
    "fold": (1e-4, 1e-5),
    "fp32": (2e-3, 5e-4),
    "fp16": (2e-2, 5e-3),
    "int8": (0.20, 0.05),
    "int8-cpu": (0.20, 0.05),
    "int8-cpu-avx2": (0.20, 0.05),
    "int8-dynamic": (0.20, 0.05),
}
# Spearman between a lower precision's scores and fp32's on the check images: what matters is
# that it orders photos as the validated model does.
MIN_RANK_AGREEMENT = {"fp16": 0.995, "int8": 0.95, "int8-cpu": 0.95, "int8-cpu-avx2": 0.95, "int8-dynamic": 0.95}
