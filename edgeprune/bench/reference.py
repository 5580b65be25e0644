"""The fixed reference models that calibrate host latency to a target (host only).

Latency does not depend on weight *values*, so a reference is a randomly
initialised timm network exported once per (model, input size, classes,
format) into a user cache (``$EDGEPRUNE_CACHE``, else ``$XDG_CACHE_HOME/edgeprune``
or ``~/.cache/edgeprune``). Building needs torch; using a cached file does not.
On the device no reference is needed: everything there is measured.

One trap: random weights must not be *degenerate*. timm zero-initialises the
last norm of each residual block, and exporters then constant-fold the whole
branch away (a ResNet-18 became 4 convolutions). Every constant-valued
parameter is therefore re-randomised, and the file is checked to hold all
the weights.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import EdgepruneError, WriteFailed, missing_extra
from ..locks import wait_lock
from ..registry import Registry
from ..runio import atomic_path, clean_stale_temps, read_json, sha256_file, write_json
from ..targets import Calibration

CACHE_ENV = "EDGEPRUNE_CACHE"
SEED = 0
ONNX_OPSET = 18


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgeprune"


def reference_path(cal: Calibration) -> Path:
    stem = f"{cal.model}-{cal.input_size}px-{cal.num_classes}cls"
    prec = "" if getattr(cal, "precision", "fp32") == "fp32" else f".{cal.precision}"
    return cache_root() / "reference" / f"{stem}{prec}.{cal.format}"


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _cached(path: Path) -> bool:
    meta = _meta_path(path)
    if not (path.is_file() and meta.is_file()):
        return False
    try:
        doc = read_json(meta)
        return isinstance(doc, dict) and doc.get("sha256") == sha256_file(path)
    except (OSError, ValueError):
        return False


def ensure_reference(cal: Calibration, log: Callable[[str], None] = lambda s: None) -> Path:
    """The cached reference file for ``cal``, built first if missing or damaged.

    Under the cache's lock: concurrent benches build a reference once, and temps
    that a killed build left there (edgeprune's marker only) are removed. A
    read-only cache that already holds the reference is used as it is.
    """
    path = reference_path(cal)
    try:
        with wait_lock(path.parent, log):
            clean_stale_temps(path.parent)
            if not _cached(path):  # another process may have built it while this one waited
                log(f"building reference {path.name} (once; cached in {path.parent})")
                build_reference(cal, path)
    except WriteFailed:
        if not _cached(path):
            raise
    return path


# ---------------------------------------------------------------- building (torch)
def _export_onnx(model, sample, path: Path) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but fast and exact for convnets
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (sample,), str(path), opset_version=ONNX_OPSET, dynamo=False,
                          input_names=["input"], output_names=["logits"])


def _export_tflite(model, sample, path: Path) -> None:
    try:
        import litert_torch
    except ImportError:
        raise missing_extra("litert-torch", "host") from None

    litert_torch.convert(model, (sample,)).export(str(path))


#: format -> (random-weight model, sample, path) -> None
EXPORTERS: Registry[Callable] = Registry("reference format")
EXPORTERS.add("onnx", _export_onnx)
EXPORTERS.add("tflite", _export_tflite)
N_INT8_CALIB = 8  # random-normal calibration batches: latency does not depend on the values


def _int8(cal: Calibration, fp32_file: Path, path: Path) -> None:
    """Quantize a reference the way edgeprune quantizes artifacts (edgeprune.export.quantize)."""
    import numpy as np

    from ..export.prepare import quiet
    from ..export.quantize import quantize_onnx_file, quantize_tflite_bytes

    x = np.random.default_rng(SEED).standard_normal((N_INT8_CALIB, 3, cal.input_size, cal.input_size)).astype(np.float32)
    if cal.format == "tflite":
        path.write_bytes(quantize_tflite_bytes(fp32_file.read_bytes(), x))  # references keep torch's NCHW input
    else:
        with quiet():
            quantize_onnx_file(fp32_file, path, x)


def _random_model(cal: Calibration):
    try:
        import torch
    except ImportError:
        raise EdgepruneError(
            f"The {cal.format} reference model {reference_path(cal).name} is not in {reference_path(cal).parent} "
            "and building it needs torch.",
            "Run the bench once where 'edgeprune[host]' is installed (or copy that cache here), "
            "or measure on the device with --on-device.") from None
    from ..models import create_model, resolve_spec

    torch.manual_seed(SEED)
    model = create_model(resolve_spec(cal.model, cal.num_classes, cal.input_size)).eval()
    from ..models import randomise_constants

    randomise_constants(model, SEED)
    return model, torch.randn(1, 3, cal.input_size, cal.input_size, generator=torch.Generator().manual_seed(SEED))


def build_reference(cal: Calibration, path: Path) -> None:
    """Export a random-weight ``cal.model`` to ``path`` atomically, with a sidecar JSON."""
    model, sample = _random_model(cal)
    n_params = sum(p.numel() for p in model.parameters())
    int8 = getattr(cal, "precision", "fp32") == "int8"
    with atomic_path(path) as tmp:
        if int8:
            import tempfile

            with tempfile.TemporaryDirectory(dir=path.parent, prefix=".int8-", suffix=".tmp") as d:
                fp32 = Path(d) / f"fp32.{cal.format}"
                EXPORTERS.get(cal.format)(model, sample, fp32)
                _int8(cal, fp32, tmp)
        else:
            EXPORTERS.get(cal.format)(model, sample, tmp)
        size = tmp.stat().st_size
        if size < 0.9 * (1 if int8 else 4) * n_params:  # anything smaller lost weights to constant folding
            raise EdgepruneError(f"Reference {path.name} holds {size} bytes for {n_params} parameters.",
                                 "Report this: the exporter folded part of the reference model away.")
    import timm
    import torch

    write_json(_meta_path(path), {
        "model": cal.model, "input_size": cal.input_size, "num_classes": cal.num_classes, "format": cal.format,
        "precision": getattr(cal, "precision", "fp32"),
        **({"quantization": f"edgeprune's int8 path (edgeprune.export.quantize), calibrated on {N_INT8_CALIB} "
                            "random-normal inputs"} if int8 else {}),
        "parameters": n_params, "bytes": path.stat().st_size, "sha256": sha256_file(path), "seed": SEED,
        "versions": {"torch": torch.__version__, "timm": timm.__version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
