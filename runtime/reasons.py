"""The one-word reason behind a low score: which camera fault the attributes see most.

Attributes (manifest `output.attributes`) are on different scales: blur, noise and compression
run 0..1 over the rendered levels, exposure is in stops, broken is a probability. Each becomes a
severity on one scale (exposure: |stops| / 2, as in the training penalty) and the largest one
above REASON_FLOOR names the reason; below it, nothing stands out and the reason is None.
"""

from __future__ import annotations

REASON_FLOOR = 0.3  # about the mildest rendered level of a fault
BROKEN_PROBABILITY = 0.5
EXPOSURE_STOPS_PER_UNIT = 2.0


def severities(attributes: dict[str, float]) -> dict[str, float]:
    """Reason name -> severity on one 0..1-ish scale."""
    out: dict[str, float] = {}
    for name, value in attributes.items():
        low = name.lower()
        if "expos" in low:
            key = "under_exposure" if value < 0 else "over_exposure"
            out[key] = abs(float(value)) / EXPOSURE_STOPS_PER_UNIT
        elif "blur" in low or "sharp" in low:
            out["blur"] = float(value)
        elif "noise" in low:
            out["noise"] = float(value)
        elif "compress" in low:
            out["compression"] = float(value)
        elif "colour" in low or "color" in low:
            out["colour_cast"] = float(value)
    return out


def dominant_reason(attributes: dict[str, float]) -> str | None:
    """'broken', 'blur', 'under_exposure', 'over_exposure', 'noise', 'compression', 'colour_cast' or None."""
    broken = next((v for k, v in attributes.items() if "broken" in k.lower()), 0.0)
    if broken > BROKEN_PROBABILITY:
        return "broken"
    sev = severities(attributes)
    if not sev:
        return None
    name, value = max(sev.items(), key=lambda kv: kv[1])
    return name if value >= REASON_FLOOR else None
