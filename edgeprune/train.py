"""The one training loop: dense training, masked fine-tuning and baselines use it.

Masks are held by :class:`MaskHold`: gradients of pruned weights are zeroed
before the optimizer step (so Adam's moments never grow for them) and the
weights are zeroed again *after* every step, so a pruned weight is exactly 0.0
at every point an outside observer can see.

Training runs where the model's parameters are (``fit(..., device=)`` moves it
first). On an accelerator a split is copied to device memory once per
:func:`fit` (or, when it does not fit, read from page-locked host memory with
asynchronous copies), and the loss is summed on the device, so no step waits
for the host. On the CPU the batches are exactly the numpy slices they always
were, so CPU results do not depend on this code path.
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
        self.pairs = [(params[name], mask.to(device=params[name].device, dtype=torch.bool))
                      for name, mask in masks.items()]
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
    for idx in _order(n, batch_size, rng, drop_last):
        yield torch.from_numpy(x[idx]), torch.from_numpy(y[idx])


def _order(n: int, batch_size: int, rng: np.random.Generator | None, drop_last: bool):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    stop = n - (n % batch_size) if drop_last and n > batch_size else n
    for i in range(0, stop, batch_size):
        yield order[i:i + batch_size]


RESIDENT_FRACTION = 0.3  # of free CUDA memory a split may take to live on the device


class Split:
    """One split's normalised images and labels, kept where training reads them.

    CPU: the numpy arrays themselves (batches as before). CUDA: on the device
    when the split takes at most :data:`RESIDENT_FRACTION` of free memory,
    else in page-locked host memory copied per batch without blocking. MPS
    (unified memory): on the device.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, device: torch.device | str = "cpu"):
        self.device, self.n = torch.device(device), len(y)
        self.resident = self.device.type == "cpu" or self._fits(x.nbytes + y.nbytes)
        self.x: np.ndarray | torch.Tensor = x
        self.y: np.ndarray | torch.Tensor = y
        if self.device.type != "cpu":
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            self.x, self.y = (xt.to(self.device), yt.to(self.device)) if self.resident else (xt.pin_memory(), yt.pin_memory())

    def _fits(self, nbytes: int) -> bool:
        if self.device.type != "cuda":
            return True
        free, _ = torch.cuda.mem_get_info(self.device)
        return nbytes <= RESIDENT_FRACTION * free

    def batches(self, batch_size: int, rng: np.random.Generator | None = None, drop_last: bool = False):
        if self.device.type == "cpu":
            yield from batches(self.x, self.y, batch_size, rng, drop_last)
            return
        for idx in _order(self.n, batch_size, rng, drop_last):
            i = torch.from_numpy(idx)
            if self.resident:
                i = i.to(self.device, non_blocking=True)
                yield self.x[i], self.y[i]
            else:  # gather into page-locked memory, copy asynchronously (the host allocator tracks the copy)
                xb = torch.empty((len(idx), *self.x.shape[1:]), dtype=self.x.dtype, pin_memory=True)
                yb = torch.empty((len(idx),), dtype=self.y.dtype, pin_memory=True)
                torch.index_select(self.x, 0, i, out=xb)
                torch.index_select(self.y, 0, i, out=yb)
                yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)


def _shift(xb: torch.Tensor, gen: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random translation by up to ``pad`` pixels (edge-replicated)."""
    n, _, h, w = xb.shape
    padded = nn.functional.pad(xb, (pad, pad, pad, pad), mode="replicate")
    dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
    return padded[:, :, dy:dy + h, dx:dx + w]


def model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits for a normalised NCHW batch, in eval mode (computed on the model's device)."""
    model.eval()
    dev = model_device(model)
    outs = [model(xb.to(dev)).float().cpu().numpy() for xb, _ in batches(x, np.zeros(len(x), np.int64), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray | Split, y: np.ndarray | None = None, batch_size: int = 256) -> float:
    """Top-1 accuracy on ``x`` (a normalised array with labels ``y``, or a :class:`Split`)."""
    split = x if isinstance(x, Split) else Split(x, y, model_device(model))
    if split.n == 0:
        return float("nan")
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=split.device)
    for xb, yb in split.batches(batch_size):
        correct += (model(xb).argmax(1) == yb).sum()
    return int(correct) / split.n


RECALIBRATION_IMAGES = 2048  # training images whose batch statistics replace the BatchNorm running ones


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, data: Dataset, batch_size: int = 128, seed: int = 0,
                          n_images: int = RECALIBRATION_IMAGES) -> int:
    """Re-estimate every BatchNorm layer's running mean/variance on training images (no weight changes).

    Removing channels changes what each later BatchNorm sees, so its stored statistics no longer
    match and the pruned network can predict one class for everything before fine-tuning starts
    (adaptive BN, Li et al. 2020, EagleEye). Up to ``n_images`` training images (seeded order) are
    averaged, each batch with equal weight. Returns the number of BatchNorm layers reset (0: nothing to do).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        return 0
    was_training, momenta = model.training, [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    dev = model_device(model)
    x = data.x_train[np.random.default_rng(seed).permutation(len(data.x_train))[:n_images]]
    model.train()
    try:
        for xb, _ in batches(data.normalize(x), np.zeros(len(x), np.int64), batch_size):
            model(xb.to(dev))
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.train(was_training)
    return len(bns)


def fit(model: nn.Module, data: Dataset, cfg: TrainConfig, masks: dict[str, torch.Tensor] | None = None,
        on_epoch: Callable[[dict], None] | None = None, device: str | torch.device | None = None) -> FitResult:
    """Train on ``data.x_train``; early-stop on validation accuracy; restore the best epoch.

    ``device``: where to train (the model is moved there; default: where it is).
    The test split is never touched here.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    dev = torch.device(device) if device is not None else model_device(model)
    model.to(dev)
    train = Split(data.normalize(data.x_train), data.y_train, dev)
    val = Split(data.normalize(data.x_val), data.y_val, dev)
    hold = MaskHold(model, masks) if masks else None
    opt = make_optimizer(model, cfg)
    loss_fn = nn.CrossEntropyLoss()
    best_acc, best_epoch, best_state = accuracy(model, val), 0, copy.deepcopy(model.state_dict())
    history: list[dict] = [{"epoch": 0, "val_accuracy": best_acc}]
    t0, bad, epoch = time.perf_counter(), 0, 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, seen = torch.zeros((), dtype=torch.float64, device=dev), 0  # summed on the device: no sync per step
        for xb, yb in train.batches(cfg.batch_size, rng, drop_last=True):
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
            total += loss.detach().double() * len(yb)
            seen += len(yb)
        val_acc = accuracy(model, val)
        rec = {"epoch": epoch, "train_loss": float(total) / max(seen, 1), "val_accuracy": val_acc,
               "seconds": time.perf_counter() - t0}
        history.append(rec)
        if on_epoch:
            on_epoch(rec)
        if val_acc > best_acc or (math.isnan(best_acc) and not math.isnan(val_acc)):
            best_acc, best_epoch, bad = val_acc, epoch, 0
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
