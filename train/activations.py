"""Activations by name, and the two learned per-channel activations (gated, select).

Every activation here exports to a plain ONNX op (Relu, Erf-based Gelu, Sigmoid, Tanh, PRelu,
LeakyRelu): export-safe variants are chosen at construction, never patched afterwards.
Both learned activations describe themselves as a per-channel *mixture* of fixed candidates
(`mixture()`), which is all the exporter needs to fold them away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from edgeiqa.train.registry import Registry
from torch import nn

ACTIVATIONS: Registry[Callable[[int], nn.Module]] = Registry("activation")
ACTIVATIONS.add("relu", lambda c: nn.ReLU())
ACTIVATIONS.add("gelu", lambda c: nn.GELU(approximate="none"))
ACTIVATIONS.add("sigmoid", lambda c: nn.Sigmoid())
ACTIVATIONS.add("tanh", lambda c: nn.Tanh())
ACTIVATIONS.add("leaky_relu", lambda c: nn.LeakyReLU(0.01))
ACTIVATIONS.add("prelu", lambda c: nn.PReLU(c, init=0.25))

DEFAULT_CANDIDATES = ("sigmoid", "relu", "gelu", "tanh", "prelu")


def apply_candidate(name: str, z: torch.Tensor, slope: torch.Tensor | None = None) -> torch.Tensor:
    """f_k(z) for one candidate; `slope` is the per-channel PReLU slope (broadcast on dim 1)."""
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "relu":
        return F.relu(z)
    if name == "gelu":
        return F.gelu(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "leaky_relu":
        return F.leaky_relu(z, 0.01)
    if name == "prelu":
        if slope is None:
            raise ValueError("prelu candidate needs a slope")
        return torch.where(z >= 0, z, slope * z)
    raise ValueError(f"unknown candidate activation {name!r}")


@dataclass
class Candidate:
    """One term of y_c = sum_k p_ck * f_k(alpha_ck * h_c + beta_ck), for all channels c."""

    name: str
    alpha: torch.Tensor  # [C]
    beta: torch.Tensor  # [C]
    weight: torch.Tensor  # [C], p_ck
    slope: torch.Tensor | None = None  # [C], PReLU slope when name == "prelu"


class GatedActivation(nn.Module):
    """The paper's activation-gated unit, exactly as its reference code computes it.

    y_c = w_c * sigmoid(clamp(alpha_c x_c + beta_c, -20, 20)) + (1 - w_c) * prelu(x_c; a_c),
    w_c = sigmoid(g_c). The blend stays soft at inference.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.zeros(channels))
        self.alpha = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.a = nn.Parameter(torch.full((channels,), 0.25))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.g)
        gate = torch.sigmoid(torch.clamp(self.alpha * x + self.beta, -20.0, 20.0))
        return w * gate + (1 - w) * torch.where(x >= 0, x, self.a * x)

    @torch.no_grad()
    def mixture(self) -> list[Candidate]:
        # The clamp at +-20 is dropped: sigmoid(20) differs from 1 by 2e-9, below fp32 rounding.
        w = torch.sigmoid(self.g)
        one, zero = torch.ones_like(w), torch.zeros_like(w)
        return [Candidate("sigmoid", self.alpha.clone(), self.beta.clone(), w),
                Candidate("prelu", one, zero, 1 - w, self.a.clone())]


class SelectActivation(nn.Module):
    """Per channel, a softmax over K candidate activations, each with its own affine input.

    The temperature is annealed by the trainer so each channel ends on one activation;
    `harden()` then replaces the softmax by a one-hot argmax (what export folds to
    `Gemm -> one activation per channel group -> Gemm`).
    """

    def __init__(self, channels: int, candidates: tuple[str, ...] = DEFAULT_CANDIDATES,
                 temperature: float = 1.0) -> None:
        super().__init__()
        for name in candidates:
            ACTIVATIONS.get(name)
        self.candidates = tuple(candidates)
        k = len(candidates)
        self.logits = nn.Parameter(torch.zeros(channels, k))
        self.alpha = nn.Parameter(torch.ones(channels, k))
        self.beta = nn.Parameter(torch.zeros(channels, k))
        self.slope = nn.Parameter(torch.full((channels,), 0.25))
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.register_buffer("hard", torch.tensor(False))

    def set_temperature(self, t: float) -> None:
        self.temperature.fill_(float(t))

    def harden(self) -> None:
        self.hard.fill_(True)

    def probabilities(self) -> torch.Tensor:
        """p_ck, [C, K]."""
        if bool(self.hard):
            return F.one_hot(self.logits.argmax(dim=1), len(self.candidates)).to(self.logits.dtype)
        return torch.softmax(self.logits / self.temperature, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.probabilities()
        z = x.unsqueeze(-1) * self.alpha + self.beta  # [N, C, K]
        out = torch.zeros_like(x)
        for k, name in enumerate(self.candidates):
            out = out + p[:, k] * apply_candidate(name, z[..., k], self.slope)
        return out

    @torch.no_grad()
    def mixture(self) -> list[Candidate]:
        p = self.probabilities()
        return [Candidate(name, self.alpha[:, k].clone(), self.beta[:, k].clone(), p[:, k].clone(),
                          self.slope.clone() if name == "prelu" else None)
                for k, name in enumerate(self.candidates)]
