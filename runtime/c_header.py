"""`edgeiqa_bundle.h`: a bundle's contract as C constants, so firmware never hard-codes it.

Written by the exporter into every bundle (and by `edgeiqa info BUNDLE --c-header` for an older
one) from the manifest alone: tensor names, dtype and item shape, frame size and pixel format,
the MOS scale and its direction, and the model file of each precision. examples/c/ includes it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from edgeiqa.runtime.bundle import attribute_names
from edgeiqa.runtime.input_spec import InputSpec

HEADER_FILE = "edgeiqa_bundle.h"


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_header(manifest: dict[str, Any]) -> str:
    inp, score = manifest["input"], manifest["score"]
    shape = InputSpec.from_manifest(inp).item_shape
    yuv = inp.get("pixel_format", "rgb") != "rgb"
    models = [m for m in manifest["models"] if m["format"] == "onnx"]
    lines = [
        "/* Generated from manifest.json by edgeiqa (runtime/c_header.py); do not edit. */",
        "#ifndef EDGEIQA_BUNDLE_H",
        "#define EDGEIQA_BUNDLE_H",
        "",
        f"#define EDGEIQA_SCHEMA_VERSION {int(manifest['schema_version'])}",
        f"#define EDGEIQA_MODEL_BACKBONE {_c_string(str(manifest.get('model', {}).get('backbone', '')))}",
        "",
        "/* Input: one tensor, uint8, [batch, ITEM_DIM0, ITEM_DIM1(, ITEM_DIM2)], C order. */",
        f"#define EDGEIQA_INPUT_NAME {_c_string(inp['name'])}",
        f"#define EDGEIQA_INPUT_DTYPE {_c_string(inp['dtype'])}",
        f"#define EDGEIQA_INPUT_IS_UINT8 {1 if inp['dtype'] == 'uint8' else 0}",
        f"#define EDGEIQA_INPUT_LAYOUT {_c_string(inp['layout'])}",
        f"#define EDGEIQA_PIXEL_FORMAT {_c_string(inp.get('pixel_format', 'rgb'))}",
        f"#define EDGEIQA_ITEM_RANK {len(shape)}",
    ]
    lines += [f"#define EDGEIQA_ITEM_DIM{i} {d}" for i, d in enumerate(shape)]
    lines += [
        f"#define EDGEIQA_ITEM_BYTES {math.prod(shape) * (1 if inp['dtype'] == 'uint8' else 4)}",
        f"#define EDGEIQA_MODEL_HEIGHT {int(inp['height'])}",
        f"#define EDGEIQA_MODEL_WIDTH {int(inp['width'])}",
        f"#define EDGEIQA_FRAME_HEIGHT {int(inp.get('frame_height', inp['height']))}",
        f"#define EDGEIQA_FRAME_WIDTH {int(inp.get('frame_width', inp['width']))}",
        f"#define EDGEIQA_BATCH_STATIC {int(inp['batch']) if str(inp.get('batch')).isdigit() else 0}"
        "  /* 0: any batch */",
    ]
    if yuv:
        lines += [f"#define EDGEIQA_YUV_MATRIX {_c_string(inp['yuv']['matrix'])}",
                  f"#define EDGEIQA_YUV_RANGE {_c_string(inp['yuv']['range'])}"]
    attrs = attribute_names(manifest)  # the columns of the `attributes` output, in order
    lines += [
        "",
        "/* Output: float32 [batch] on the MOS scale below. */",
        f"#define EDGEIQA_OUTPUT_NAME {_c_string(manifest['output']['name'])}",
        f"#define EDGEIQA_SCORE_LO {float(score['scale']['lo']):.6f}f",
        f"#define EDGEIQA_SCORE_HI {float(score['scale']['hi']):.6f}f",
        f"#define EDGEIQA_HIGHER_IS_BETTER {1 if score.get('higher_is_better', True) else 0}",
        f"#define EDGEIQA_N_ATTRIBUTES {len(attrs)}",
    ]
    if attrs:
        lines.append("#define EDGEIQA_ATTRIBUTES_NAME \"attributes\"")
        lines.append("#define EDGEIQA_ATTRIBUTE_NAMES {" + ", ".join(_c_string(a) for a in attrs) + "}")
    lines += ["", "/* Model files, one per precision (relative to the bundle folder). */",
              f"#define EDGEIQA_N_MODELS {len(models)}"]
    for m in models:
        macro = re.sub(r"[^A-Z0-9]", "_", m["precision"].upper())
        lines.append(f"#define EDGEIQA_MODEL_{macro} {_c_string(m['file'])}")
    lines.append("#define EDGEIQA_MODEL_PRECISIONS {" + ", ".join(_c_string(m["precision"]) for m in models) + "}")
    lines.append("#define EDGEIQA_MODEL_FILES {" + ", ".join(_c_string(m["file"]) for m in models) + "}")
    ref = manifest.get("reference")
    if ref:
        lines += ["", f"#define EDGEIQA_REFERENCE_FRAMES {_c_string(ref['frames'])}",
                  f"#define EDGEIQA_REFERENCE_COUNT {int(ref['count'])}"]
    lines += ["", "#endif /* EDGEIQA_BUNDLE_H */", ""]
    return "\n".join(lines)
