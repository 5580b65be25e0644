"""The one training loop: dense training, masked fine-tuning and baselines use it.

Masks are held by :class:`MaskHold`: gradients of pruned weights are zeroed
before the optimizer step (so Adam's moments never grow for them) and the
weights are zeroed again *after* every step, so a pruned weight is exactly 0.0
at every point an outside observer can see.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .data import Dataset


@dataclass
class TrainConfig:
    """Recipe; defaults follow the paper's fine-tuning recipe scaled to CPU."""

    epochs: int = 20
    lr: float = 1e-4
    batch_size: int = 128
    patience: int = 3
    optimizer: str = "adam"  # adam | adamw
    weight_decay: float = 0.0
    augment: bool = True  # random +-2 px translation
    seed: int = 0
    max_seconds: float | None = None  # wall-clock cap; stops after the current epoch

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class FitResult:
    best_val_accuracy: float
    best_epoch: int
    epochs: int
    seconds: float
    history: list[dict] = field(default_factory=list)


class MaskHold:
    """Keeps ``param[~mask] == 0`` through training. ``masks``: name -> bool tensor."""

    def __init__(self, model: nn.Module, masks: dict[str, torch.Tensor]):
        params = dict(model.named_parameters())
        self.pairs = [(params[name], mask.to(torch.bool)) for name, mask in masks.items()]
        self.apply()

    @torch.no_grad()
    def apply(self) -> None:
        for p, m in self.pairs:
            p.masked_fill_(~m, 0.0)

    @torch.no_grad()
    def zero_grads(self) -> None:
        for p, m in self.pairs:
            if p.grad is not None:
                p.grad.masked_fill_(~m, 0.0)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay or 0.05)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator | None = None,
            drop_last: bool = False):
    """Yield (x, y) tensor batches; shuffled when ``rng`` is given."""
    n = len(y)
    order = rng.permutation(n) if rng is not None else np.arange(n)
    stop = n - (n % batch_size) if drop_last and n > batch_size else n
    for i in range(0, stop, batch_size):
        idx = order[i:i + batch_size]
        yield torch.from_numpy(x[idx]), torch.from_numpy(y[idx])


def _shift(xb: torch.Tensor, gen: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random translation by up to ``pad`` pixels (edge-replicated)."""
    n, _, h, w = xb.shape
    padded = nn.functional.pad(xb, (pad, pad, pad, pad), mode="replicate")
    dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
    return padded[:, :, dy:dy + h, dx:dx + w]


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits for a normalised NCHW batch, in eval mode."""
    model.eval()
    outs = [model(xb).float().numpy() for xb, _ in batches(x, np.zeros(len(x), np.int64), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    if len(y) == 0:
        return float("nan")
    return float((predict(model, x, batch_size).argmax(1) == y).mean())


def fit(model: nn.Module, data: Dataset, cfg: TrainConfig, masks: dict[str, torch.Tensor] | None = None,
        on_epoch: Callable[[dict], None] | None = None) -> FitResult:
    """Train on ``data.x_train``; early-stop on validation accuracy; restore the best epoch.

    The test split is never touched here.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x_tr, x_va = data.normalize(data.x_train), data.normalize(data.x_val)
    hold = MaskHold(model, masks) if masks else None
    opt = make_optimizer(model, cfg)
    loss_fn = nn.CrossEntropyLoss()
    best_acc, best_epoch, best_state = accuracy(model, x_va, data.y_val), 0, copy.deepcopy(model.state_dict())
    history: list[dict] = [{"epoch": 0, "val_accuracy": best_acc}]
    t0, bad, epoch = time.perf_counter(), 0, 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, seen = 0.0, 0
        for xb, yb in batches(x_tr, data.y_train, cfg.batch_size, rng, drop_last=True):
            if cfg.augment:
                xb = _shift(xb, gen)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if hold:
                hold.zero_grads()
            opt.step()
            if hold:
                hold.apply()
            total += loss.item() * len(yb)
            seen += len(yb)
        val = accuracy(model, x_va, data.y_val)
        rec = {"epoch": epoch, "train_loss": total / max(seen, 1), "val_accuracy": val,
               "seconds": time.perf_counter() - t0}
        history.append(rec)
        if on_epoch:
            on_epoch(rec)
        if val > best_acc or (math.isnan(best_acc) and not math.isnan(val)):
            best_acc, best_epoch, bad = val, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        if bad >= cfg.patience or (cfg.max_seconds and rec["seconds"] > cfg.max_seconds):
            break
    model.load_state_dict(best_state)
    if hold:
        hold.apply()
    model.eval()
    return FitResult(best_acc, best_epoch, epoch, time.perf_counter() - t0, history)
