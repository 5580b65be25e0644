"""Model construction and checkpoint loading (timm models, safe formats only)."""
from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import EdgepruneError, missing_extra

MIN_TOKENS_PER_SIDE = 8  # a ViT on a 32x32 input gets patch 4 instead of 16


@dataclass
class ModelSpec:
    """Everything needed to rebuild the network; stored in run.json."""

    name: str
    num_classes: int
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "ModelSpec":
        return cls(name=d["name"], num_classes=int(d["num_classes"]), kwargs=dict(d.get("kwargs", {})))


def _timm():
    try:
        import timm
    except ImportError:
        raise missing_extra("timm", "host") from None
    return timm


def check_model_name(name: str) -> None:
    timm = _timm()
    if timm.is_model(name):
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.5)
    hint = f"Did you mean: {', '.join(close)}?" if close else "See timm.list_models() for names."
    raise EdgepruneError(f"Unknown model {name!r}.", hint)


def restated_num_classes(kwargs: dict | None, actual: int, source: str) -> dict:
    """``kwargs`` without ``num_classes``, which edgeprune sets itself; a restated value must equal ``actual``.

    ``source`` names where ``actual`` comes from (the data set, the checkpoint's classifier).
    """
    kwargs = dict(kwargs or {})
    if "num_classes" not in kwargs:
        return kwargs
    stated = kwargs.pop("num_classes")
    whole = isinstance(stated, (int, float)) and not isinstance(stated, bool) and float(stated).is_integer()
    if not whole or int(stated) != actual:
        raise EdgepruneError(f"--model-arg num_classes={stated} disagrees with {source}, which has {actual} classes.",
                             f"Drop --model-arg num_classes (edgeprune reads it from {source}), or pass "
                             f"the {'data' if 'data' in source else 'checkpoint'} the {stated}-class model was made for.")
    return kwargs


def resolve_spec(name: str, num_classes: int, input_size: int, extra: dict | None = None) -> ModelSpec:
    """Pick constructor kwargs so a timm model runs at ``input_size``.

    Models whose constructor takes ``img_size`` get it; patch models whose
    default patch would leave fewer than 8 tokens per side get a smaller patch
    (e.g. deit_tiny_patch16_224 at 32x32 -> patch 4); Swin gets a window that
    tiles its stage resolutions. User kwargs (``extra``) always win. Each
    choice is checked by building the model on the ``meta`` device (no memory).
    """
    check_model_name(name)
    timm = _timm()
    extra = restated_num_classes(extra, num_classes, "the data set")
    default_size = (timm.get_pretrained_cfg_value(name, "input_size") or (3, 224, 224))[-1]
    kwargs: dict[str, Any] = {}
    if input_size != default_size and "img_size" not in extra and _accepts(name, num_classes, img_size=input_size):
        kwargs["img_size"] = input_size
        patch = _name_number(name, "patch", 0)
        if patch and input_size // patch < MIN_TOKENS_PER_SIDE and "patch_size" not in extra:
            kwargs["patch_size"] = max(1, input_size // MIN_TOKENS_PER_SIDE)
        window = _name_number(name, "window", 0)
        if window and "window_size" not in extra:
            grid = input_size // kwargs.get("patch_size", patch or 4)
            kwargs["window_size"] = _swin_window(grid, window)
        if not _accepts(name, num_classes, **kwargs):
            kwargs = {"img_size": input_size}
    kwargs.update(extra)
    return ModelSpec(name=name, num_classes=num_classes, kwargs=kwargs)


def _name_number(name: str, word: str, default: int) -> int:
    import re

    m = re.search(word + r"(\d+)", name)
    return int(m.group(1)) if m else default


def _swin_window(grid: int, default: int) -> int:
    """Largest window <= ``default`` that tiles the first stage's token grid."""
    return next(w for w in range(min(default, grid), 0, -1) if grid % w == 0)


def _accepts(name: str, num_classes: int, **kwargs: Any) -> bool:
    import torch

    try:
        with torch.device("meta"):
            _timm().create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
        return True
    except Exception:
        return False


def create_model(spec: ModelSpec):
    """Build ``spec`` with ``pretrained=False`` (no downloads, ever)."""
    timm = _timm()
    check_model_name(spec.name)
    try:
        return timm.create_model(spec.name, pretrained=False, num_classes=spec.num_classes, **spec.kwargs)
    except TypeError as e:
        raise EdgepruneError(f"Cannot build {spec.name} with {spec.kwargs}: {e}.", "Pass constructor arguments with --model-arg KEY=VALUE.") from None


def read_state_dict(path: str | Path) -> dict:
    """Load a state_dict from ``.safetensors`` or ``.pt``/``.pth`` (weights only)."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise EdgepruneError(f"Checkpoint {p} does not exist.", "Check the --checkpoint path.")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(p))
        elif p.suffix in (".pt", ".pth", ".bin", ".ckpt"):
            sd = torch.load(p, map_location="cpu", weights_only=True)
        else:
            raise EdgepruneError(f"Checkpoint {p}: unknown format {p.suffix!r}.", "Use a .safetensors, .pt or .pth state_dict.")
    except EdgepruneError:
        raise
    except Exception as e:
        raise EdgepruneError(
            f"Checkpoint {p} cannot be read safely ({_load_reason(e)}).",
            "Save it with torch.save(model.state_dict(), path) or safetensors; pickled whole models are refused.",
        ) from None
    for key in ("state_dict", "model", "model_state_dict", "module"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(hasattr(v, "shape") for v in sd.values()):
        raise EdgepruneError(f"Checkpoint {p} is not a state_dict of tensors.", "Save model.state_dict().")
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in sd.items()}


def _load_reason(e: Exception) -> str:
    """Why a checkpoint did not load, in whole words: the refused class of a pickle, else the first sentence."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
    refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if refused:
        return f"it pickles {refused.group(1)}, and only tensors are loaded"
    unpickler = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    if unpickler:
        return f"not a weights-only torch file: {unpickler.group(1).strip().rstrip('.')}"
    first = text.splitlines()[0].strip() if text else ""
    sentence = re.split(r"(?<=[.!?])\s+", first)[0].rstrip(".") if first else ""
    return f"{type(e).__name__}: {sentence}" if sentence else type(e).__name__


def load_weights(model, state_dict: dict, source: str = "checkpoint") -> None:
    """Load strictly; on mismatch raise one line naming the first bad keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shape = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    if missing or unexpected or shape:
        parts = []
        if shape:
            parts.append("shape mismatch: " + "; ".join(shape[:3]))
        if missing:
            parts.append("missing: " + ", ".join(missing[:3]) + (f" (+{len(missing) - 3})" if len(missing) > 3 else ""))
        if unexpected:
            parts.append("unexpected: " + ", ".join(unexpected[:3]) + (f" (+{len(unexpected) - 3})" if len(unexpected) > 3 else ""))
        raise EdgepruneError(
            f"{source} does not fit {type(model).__name__}: {' | '.join(parts)}.",
            "Check --model, --model-arg and the number of classes of --data.",
        )
    model.load_state_dict(state_dict, strict=True)


def infer_num_classes(name: str, state_dict: dict, kwargs: dict | None = None) -> int:
    """Read the classifier width from a checkpoint (for export outside a run)."""
    model = create_model(ModelSpec(name, 1000, dict(kwargs or {})))
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    for pname, p in model.named_parameters():
        if head is not None and any(p is q for q in head.parameters()) and pname.endswith("weight"):
            if pname in state_dict:
                return int(state_dict[pname].shape[0])
    raise EdgepruneError(f"Cannot find the classifier of {name} in the checkpoint.", "Pass the model that produced the checkpoint.")


def build(spec: ModelSpec, weights: str | Path | None = None):
    """Model in eval mode, weights loaded if given."""
    model = create_model(spec)
    if weights is not None:
        load_weights(model, read_state_dict(weights), source=str(weights))
    return model.eval()


def randomise_constants(model, seed: int = 0) -> None:
    """Give every constant-valued parameter/buffer random values, in place.

    timm zero-initialises the last norm of each residual block; exporters then fold
    those branches away, so a random-init model is not the network a trained one
    would be. Benchmarks and tests of export size/latency call this first.
    Norm scales and running variances stay positive.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point() or t.numel() < 2 or bool((t != t.flatten()[0]).any()):
                continue
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("running_var", "weight") and t.dim() == 1:
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * (0.1 if t.dim() == 1 else 0.02))
