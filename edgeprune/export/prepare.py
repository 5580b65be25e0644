"""Get a PyTorch model ready for conversion: masks baked in, static shapes, quiet converters."""
from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
import warnings
from typing import Iterator

from ..errors import EdgepruneError

_PRUNE_ORIG = re.compile(r"^(?P<base>.+)_orig$")
_PARAM_ORIG = re.compile(r"^(?P<mod>.*?)(?:\.)?parametrizations\.(?P<name>[^.]+)\.original$")


def fold_mask_keys(state_dict: dict) -> dict:
    """Bake pruning masks of a saved state_dict into plain weights.

    Handles ``torch.nn.utils.prune`` (``W_orig`` x ``W_mask``) and
    ``torch.nn.utils.parametrize`` (``parametrizations.W.original`` x every
    ``parametrizations.W.<i>.*mask*`` buffer). Other parametrizations cannot be
    folded from tensors alone and are refused with a one-line error.
    """
    sd = dict(state_dict)
    for key in [k for k in sd if _PRUNE_ORIG.match(k)]:
        base = _PRUNE_ORIG.match(key)["base"]
        if base + "_mask" in sd:
            sd[base] = sd.pop(key) * sd.pop(base + "_mask")
    for key in [k for k in sd if _PARAM_ORIG.match(k)]:
        m = _PARAM_ORIG.match(key)
        prefix = key[: -len("original")]
        extra = [k for k in sd if k.startswith(prefix) and k != key]
        masks = [k for k in extra if "mask" in k.rsplit(".", 1)[-1]]
        if len(masks) != len(extra):
            raise EdgepruneError(
                f"Checkpoint has parametrization state other than masks ({extra[0]}).",
                "Call torch.nn.utils.parametrize.remove_parametrizations(..., leave_parametrized=True) before saving.")
        weight = sd.pop(key)
        for k in masks:
            weight = weight * sd.pop(k)
        sd[(m["mod"] + "." if m["mod"] else "") + m["name"]] = weight
    return sd


def strip_masks(model) -> None:
    """Remove parametrizations and ``torch.nn.utils.prune`` hooks, keeping masked values."""
    from torch.nn.utils import parametrize, prune

    for module in model.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, prune.BasePruningMethod):
                prune.remove(module, hook._tensor_name)
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    params = {n for n, _ in model.named_parameters()}
    left = [n for n, _ in model.named_buffers() if n.endswith("_mask") and n[:-5] + "_orig" in params]
    if left:
        raise EdgepruneError(f"Mask buffers remain after stripping: {left[:3]}.", "Remove pruning hooks before export.")


@contextlib.contextmanager
def static_shapes() -> Iterator[None]:
    """Export at one fixed input shape: let timm take its eager size checks.

    timm skips its "same size" early-outs while ``torch.export`` runs so the
    graph stays shape-generic, which adds an antialiased bicubic resize of the
    position embedding (an identity at the model's own size) that litert-torch
    cannot lower. Our artifacts have static shapes, so the eager branch is exact.
    """
    try:
        import timm.layers.pos_embed as pos_embed
    except ImportError:
        yield
        return
    original = getattr(pos_embed, "is_exporting", None)
    if original is None:
        yield
        return
    pos_embed.is_exporting = lambda: False
    try:
        yield
    finally:
        pos_embed.is_exporting = original


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence converter chatter: Python streams, warnings, and C++ logs on fds 1 and 2."""
    for s in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            s.flush()
    saved = []
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no real fds (embedded interpreter): Python-level silence only
        pass
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if saved:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                yield
        finally:
            if saved:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in saved:
                    os.close(fd)
