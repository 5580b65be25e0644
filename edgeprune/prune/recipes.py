"""Training recipes per model family (the paper's fine-tuning values)."""
from __future__ import annotations

import dataclasses

from ..train import TrainConfig
from .config import PruneConfig

# (substring of the timm name, optimizer, fine-tune lr, weight decay); first match wins
_FAMILIES = [
    ("levit", "adamw", 5e-5, 0.05),
    ("vgg", "adam", 1e-4, 0.0),
    ("resnet", "adam", 5e-5, 0.0),
    ("vit", "adam", 5e-5, 0.0),
    ("deit", "adam", 5e-5, 0.0),
    ("swin", "adam", 5e-5, 0.0),
]
_DEFAULT = ("", "adam", 1e-4, 0.0)
_TRANSFORMER_HINTS = ("vit", "deit", "swin", "levit", "coat", "maxvit", "xcit", "cait", "beit", "eva")


def _family(model: str) -> tuple[str, str, float, float]:
    return next((f for f in _FAMILIES if f[0] in model), _DEFAULT)


def finetune_recipe(cfg: PruneConfig) -> TrainConfig:
    _, opt, lr, wd = _family(cfg.model)
    return TrainConfig(epochs=cfg.finetune_epochs, lr=cfg.finetune_lr or lr, batch_size=cfg.batch_size,
                       patience=cfg.patience, optimizer=opt, weight_decay=wd, seed=cfg.seed)


STRUCTURED_LR_FRACTION = 0.5  # of the dense training rate


def structured_finetune_recipe(cfg: PruneConfig) -> TrainConfig:
    """Fine-tuning after channel/head removal: the paper's recipe at half the dense training rate.

    The paper's rates (5e-5 for resnet) are for weights zeroed one by one; a network that lost whole
    channels must re-learn more. Measured (benchmarks/RESULTS.md, "Structured fine-tuning rate"; 12
    epochs, BatchNorm re-estimated in both): resnet18 on digits, 3 seeds x 3 bands, 5e-4 ahead of 5e-5
    on validation in 7 of 9 plans, by 4-10 points at 91% removed; mobilenetv3_small_100, 5e-4 against
    1e-4: 27 and 34 test points ahead at 80% and 90%; deit_tiny (img 32), 2.5e-4 against 5e-5: 8-12.
    ``--finetune-lr`` (``PruneConfig.finetune_lr``) overrides both granularities.
    """
    return dataclasses.replace(finetune_recipe(cfg), lr=cfg.finetune_lr or dense_recipe(cfg).lr * STRUCTURED_LR_FRACTION)


def dense_recipe(cfg: PruneConfig) -> TrainConfig:
    """From-scratch training of the dense model (no pretrained weights are available)."""
    transformer = any(h in cfg.model for h in _TRANSFORMER_HINTS)
    lr = cfg.dense_lr or (5e-4 if transformer else 1e-3)
    return TrainConfig(epochs=cfg.dense_epochs, lr=lr, batch_size=cfg.batch_size, patience=6,
                       optimizer="adamw" if transformer else "adam",
                       weight_decay=0.05 if transformer else 0.0, seed=cfg.seed)
