"""Statistics of the frame's own colours, beside the backbone's: what an ImageNet CNN averages away.

An ImageNet backbone is trained to recognise a cat under any light, so its stage statistics carry
little of the global colour balance or of how much of the frame is clipped: white-balance casts
were the camera fault the default judged worst (within-photo Spearman 0.60) and over-exposure the
next (0.87). These 16 numbers measure those directly, from every 8th pixel of every 8th row (a
64 x 64 sample of a 512 px frame: elementwise ops and means, no weights; 1.06 ms per 512 px frame
on ONNX Runtime, 2-core AMD EPYC, beside the fp32 default's ~41 ms):

- grey-world balance: log(R / G) and log(B / G) of the mean linear-light colour (2): a cast moves
  them by its gains, whatever the scene;
- the same for the highlights (means weighted by luminance squared) (2): the brightest surfaces
  are the ones most often neutral;
- each channel's mean and spread in sRGB (3 + 3);
- the share of clipped (max channel >= 250) and crushed (max channel <= 8) pixels (2);
- mean saturation, (max - min) / max (1);
- mean luminance, and the mean and spread of log luminance (3): exposure and dynamic range.

Linear light is approximated by x ** 2.2 (one Pow; the exact sRGB curve would add a Where per
pixel for no measurable gain here). The input is the frame as float NHWC 0..255, the output of the
graph's one Cast of the uint8 input, so the normalisation still goes to the stem Conv alone
(export/fold_normalize.py) and a derived camera front (export/derive.py) feeds these too.
"""

from __future__ import annotations

import torch
from torch import nn

STEP = 8  # every 8th pixel of every 8th row
NUM_FEATURES = 16
NAMES = ("grey_log_r_over_g", "grey_log_b_over_g", "highlight_log_r_over_g", "highlight_log_b_over_g",
         "mean_r", "mean_g", "mean_b", "spread_r", "spread_g", "spread_b", "clipped_share", "crushed_share",
         "saturation", "mean_luminance", "mean_log_luminance", "spread_log_luminance")
_LUMA = (0.2126, 0.7152, 0.0722)  # Rec. 709 / sRGB primaries, in linear light
_EPS = 1e-4


class ColourStats(nn.Module):
    """float NHWC frames in 0..255 -> [N, 16] colour and exposure statistics (NAMES)."""

    def __init__(self, step: int = STEP) -> None:
        super().__init__()
        self.step = int(step)
        self.register_buffer("luma", torch.tensor(_LUMA, dtype=torch.float32), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        s = frames[:, ::self.step, ::self.step, :] / 255.0  # [N, h, w, 3] sRGB 0..1
        lin = torch.pow(s.clamp_min(0.0), 2.2)
        y = (lin * self.luma).sum(dim=-1)  # [N, h, w]
        mean_lin = lin.mean(dim=(1, 2)) + _EPS  # [N, 3]
        w = (y * y)[..., None]
        high = (lin * w).sum(dim=(1, 2)) / (w.sum(dim=(1, 2)) + _EPS) + _EPS
        mean_s = s.mean(dim=(1, 2))
        spread_s = torch.sqrt(((s - mean_s[:, None, None, :]) ** 2).mean(dim=(1, 2)) + 1e-8)
        top = s.amax(dim=-1)
        low = s.amin(dim=-1)
        clipped = (top >= 250.0 / 255.0).float().mean(dim=(1, 2))
        crushed = (top <= 8.0 / 255.0).float().mean(dim=(1, 2))
        saturation = ((top - low) / (top + 1e-3)).mean(dim=(1, 2))
        log_y = torch.log(y + _EPS)
        mean_log_y = log_y.mean(dim=(1, 2))
        spread_log_y = torch.sqrt(((log_y - mean_log_y[:, None, None]) ** 2).mean(dim=(1, 2)) + 1e-8)
        columns = [_log_ratio(mean_lin, 0), _log_ratio(mean_lin, 2), _log_ratio(high, 0), _log_ratio(high, 2),
                   mean_s, spread_s, clipped[:, None], crushed[:, None], saturation[:, None],
                   y.mean(dim=(1, 2))[:, None], mean_log_y[:, None], spread_log_y[:, None]]
        return torch.cat(columns, dim=1)


def _log_ratio(rgb: torch.Tensor, channel: int) -> torch.Tensor:
    """log(channel / green), [N, 1]: slices, no gather, so the graph stays plain."""
    return torch.log(rgb[:, channel:channel + 1] / rgb[:, 1:2])
