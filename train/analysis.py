"""What the paper looks at: Grad-CAM on the backbone's last block, t-SNE of head features by
quality bucket, and the learned activations per channel. All written as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from edgeiqa.train.activations import GatedActivation, SelectActivation
from edgeiqa.train.model import IQAModel


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _as_grid(act: torch.Tensor, model: IQAModel) -> torch.Tensor:
    """Last-block activations -> [N, C, h, w] (ViT tokens reshaped to their patch grid)."""
    if act.ndim == 4:
        return act
    if act.ndim != 3:
        raise ValueError(f"unexpected activation shape {tuple(act.shape)}")
    n_prefix = int(getattr(model.backbone.model, "num_prefix_tokens", 0))
    tokens = act[:, n_prefix:]
    side = int(round(tokens.shape[1] ** 0.5))
    if side * side != tokens.shape[1]:
        tokens = tokens[:, tokens.shape[1] - side * side:]
    return tokens.transpose(1, 2).reshape(act.shape[0], act.shape[2], side, side)


def grad_cam(model: IQAModel, frames: np.ndarray) -> np.ndarray:
    """Grad-CAM of the predicted score w.r.t. the last block: [N, H, W] maps in [0, 1]."""
    store: dict[str, torch.Tensor] = {}
    block = model.backbone.last_block()

    def hook(_m, _i, out):
        out = out[0] if isinstance(out, tuple) else out
        out.retain_grad()
        store["act"] = out

    handle = block.register_forward_hook(hook)
    try:
        model.eval()
        x = torch.from_numpy(frames)
        model.zero_grad(set_to_none=True)
        score = model(x)
        score.sum().backward()
    finally:
        handle.remove()
    act, grad = _as_grid(store["act"], model), _as_grid(store["act"].grad, model)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * act).sum(1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=frames.shape[1:3], mode="bilinear", align_corners=False)[:, 0]
    cam = cam.detach().numpy()
    peak = cam.reshape(len(cam), -1).max(1)[:, None, None]
    return cam / np.where(peak > 0, peak, 1.0)


def plot_grad_cam(frames: np.ndarray, cams: np.ndarray, scores: list[float], path: Path) -> None:
    plt = _plt()
    n = len(frames)
    fig, axes = plt.subplots(2, n, figsize=(2.4 * n, 5), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(frames[i])
        axes[0, i].set_title(f"score {scores[i]:.1f}", fontsize=9)
        axes[1, i].imshow(frames[i])
        axes[1, i].imshow(cams[i], cmap="jet", alpha=0.45)
        for ax in axes[:, i]:
            ax.axis("off")
    fig.suptitle("Grad-CAM of the quality score on the backbone's last block")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@torch.no_grad()
def plot_tsne(model: IQAModel, frames: np.ndarray, mos: np.ndarray, path: Path, seed: int = 0) -> None:
    from sklearn.manifold import TSNE

    plt = _plt()
    model.eval()
    feats = torch.cat([model.head.features(model.embed(torch.from_numpy(frames[i:i + 32])).float())
                       for i in range(0, len(frames), 32)]).numpy()
    perplexity = float(min(30, max(2, (len(feats) - 1) // 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(feats)
    edges = np.quantile(mos, [0.2, 0.4, 0.6, 0.8])
    bucket = np.digitize(mos, edges)
    fig, ax = plt.subplots(figsize=(6, 5))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=bucket, cmap="RdYlGn", s=14)
    cbar = fig.colorbar(sc, ax=ax, ticks=range(5))
    cbar.ax.set_yticklabels(["worst 20%", "", "", "", "best 20%"])
    ax.set_title("t-SNE of the head's last hidden layer, by MOS quintile")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_activations(model: IQAModel, path: Path) -> bool:
    """Histogram of gates (gated head) or counts of selected activations (select head)."""
    layers = [(n, m) for n, m in (("act1", model.head.act1), ("act2", model.head.act2))
              if isinstance(m, (GatedActivation, SelectActivation))]
    if not layers:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(layers), figsize=(5.5 * len(layers), 4), squeeze=False)
    for ax, (name, m) in zip(axes[0], layers):
        with torch.no_grad():
            if isinstance(m, GatedActivation):
                w = torch.sigmoid(m.g).numpy()
                ax.hist(w, bins=30, color="tab:blue")
                ax.set_xlabel("w = sigmoid(g): 1 = all sigmoid, 0 = all PReLU")
                ax.set_title(f"{name}: gate per channel (mean {w.mean():.2f})")
            else:
                p = m.probabilities().numpy()
                chosen = p.argmax(1)
                counts = [int((chosen == k).sum()) for k in range(len(m.candidates))]
                ax.bar(m.candidates, counts, color="tab:green")
                ax.set_title(f"{name}: selected activation per channel (max p mean {p.max(1).mean():.2f})")
                ax.set_ylabel("channels")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
