"""A readable view of a bundle manifest (`edgeiqa info`, and the end of `edgeiqa export`)."""

from __future__ import annotations

from typing import Any


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def format_manifest(m: dict[str, Any]) -> str:
    inp, model, score = m["input"], m.get("model", {}), m["score"]["scale"]
    head = model.get("head", {})
    lines = [
        f"bundle schema   {m['schema']} v{m['schema_version']}  (created {m.get('created', '?')})",
        f"model           {model.get('backbone')} + {head.get('name', head)} head, regime {model.get('regime')}",
        f"input           {inp['name']}: {inp['dtype']} {inp['layout']} {inp['height']}x{inp['width']}x3, "
        f"resize {inp['resize']} ({inp['interpolation']}), normalisation "
        f"{'baked in' if inp.get('normalization_baked') else 'by the caller'}",
        f"output          {m['output']['name']}: float32 [batch], MOS scale {_fmt(score['lo'])}..{_fmt(score['hi'])}, "
        "higher is better",
    ]
    metrics = m.get("metrics", {})
    for split in ("val", "test"):
        if metrics.get(split):
            mm = metrics[split]
            lines.append(f"{split + ' metrics':<16}SRCC {mm.get('srcc', float('nan')):.4f}  "
                         f"PLCC {mm.get('plcc', float('nan')):.4f}  (n={mm.get('n')})")
    fold = m.get("fold", {})
    if fold:
        lines.append(f"fold            max |folded - original| {_fmt(fold.get('max_abs_diff_random'))} (random), "
                     f"{_fmt(fold.get('max_abs_diff_real'))} (real images)")
        for layer in fold.get("layers", []):
            groups = ", ".join(f"{g['activation']}x{g['channels']}" for g in layer["groups"])
            lines.append(f"                {layer['position']}: {layer['channels_in']} -> {layer['channels_out']} "
                         f"channels [{groups}]")
    lines.append("models")
    for e in m["models"]:
        extra = []
        for key in ("error_vs_pytorch", "error_vs_fp32"):
            if key in e:
                extra.append(f"{key.replace('_', ' ')} max {_fmt(e[key]['max_abs'])}")
        if e.get("srcc_test_sample") is not None:
            extra.append(f"test-split SRCC {e['srcc_test_sample']:.4f}")
        if e.get("auto_pick") is False:
            extra.append("never auto-picked: " + e.get("auto_pick_note", "outside the accuracy bound"))
        checks = e.get("checked_on") or []
        if checks:
            extra.append("checked on " + ", ".join(c["class"] + ("" if c.get("exact_kernels", True) else " (saturated)")
                                                    + (" emulated" if c.get("emulated") else "") for c in checks))
        if e["format"] == "tensorrt":
            extra.append(f"TensorRT {e['tensorrt_version']} sm{e['compute_capability']} {e.get('device_name', '')}")
        lines.append(f"  {e['file']:<40} {e['format']:<9} {e['precision']:<13} {'; '.join(extra)}")
    lines.append(f"files           {len(m.get('files', {}))} with sha256; tools "
                 + ", ".join(f"{k} {v}" for k, v in m.get("tools", {}).items()))
    return "\n".join(lines)
