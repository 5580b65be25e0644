"""The dense model of a run: the user's checkpoint, or trained here; cached in RUN/dense."""
from __future__ import annotations

from pathlib import Path

import torch

from ..cachekey import stage_key
from ..data import Dataset
from ..errors import EdgepruneError
from ..models import ModelSpec, create_model, load_weights, read_state_dict
from ..runio import RunDir, read_json, sha256_file, write_json
from ..train import accuracy, fit
from .candidate import save_weights
from .progress import epoch_bar
from .config import PruneConfig
from .progress import log, progress
from .recipes import dense_recipe


def dense_key(cfg: PruneConfig, data: Dataset, spec: ModelSpec) -> str:
    """Model, data, the checkpoint's hash (or None) and the training recipe (its seed included)."""
    return stage_key("dense", spec=spec.to_json(), data=data.info(),
                     checkpoint=cfg.checkpoint and sha256_file(cfg.checkpoint), recipe=dense_recipe(cfg).to_json()).hex


def check_checkpoint(cfg: PruneConfig, spec: ModelSpec) -> None:
    """The checkpoint loads safely and fits the model (before anything is written)."""
    if not cfg.checkpoint:
        return
    if not Path(cfg.checkpoint).is_file():
        raise EdgepruneError(f"Checkpoint {cfg.checkpoint} does not exist.", "Check the --checkpoint path.")
    load_weights(create_model(spec), read_state_dict(cfg.checkpoint), source=f"checkpoint {cfg.checkpoint}")


def prepare_dense(cfg: PruneConfig, rd: RunDir, data: Dataset, spec: ModelSpec, device: str = "cpu") -> dict:
    """Dense weights in RUN/dense: the user's checkpoint, or trained here (cached under :func:`dense_key`)."""
    key = dense_key(cfg, data, spec)
    if rd.dense_json.exists() and rd.dense_weights.exists():
        cached = read_json(rd.dense_json)
        if cached.get("key") == key and cached.get("sha256") == sha256_file(rd.dense_weights):
            log(f"dense: cached ({rd.dense_weights}, test accuracy {cached['test_accuracy']:.4f})")
            return cached
    torch.manual_seed(cfg.seed)
    model = create_model(spec)
    x_va, x_te = data.normalize(data.x_val), data.normalize(data.x_test)
    info: dict = {"key": key}
    if cfg.checkpoint:
        load_weights(model, read_state_dict(cfg.checkpoint), source=f"checkpoint {cfg.checkpoint}")
        info.update(trained=False, checkpoint=str(cfg.checkpoint), checkpoint_sha256=sha256_file(cfg.checkpoint))
    else:
        recipe = dense_recipe(cfg)
        bar = progress(total=recipe.epochs, desc="dense: train")
        res = fit(model, data, recipe, on_epoch=epoch_bar(bar), device=device)
        bar.close()
        info.update(trained=True, recipe=recipe.to_json(), epochs=res.epochs, best_epoch=res.best_epoch,
                    seconds=round(res.seconds, 1), device=device)
    info["val_accuracy"] = accuracy(model, x_va, data.y_val)
    info["test_accuracy"] = accuracy(model, x_te, data.y_test)
    info["sha256"] = save_weights(model, rd.dense_weights)
    info["weights"] = str(rd.dense_weights.relative_to(rd.root))
    write_json(rd.dense_json, info)
    log(f"dense: val {info['val_accuracy']:.4f}, test {info['test_accuracy']:.4f}")
    return info
