"""Calibration images for int8 quantization: drawn from the run's *training* split only.

The run directory keeps only the test split (``data/test.npz``), and test images
must never calibrate a quantizer (they measure it afterwards). So the export
stage reloads the data set named in ``run.json`` the way the prune stage loads it
(``edgeprune.data.load_dataset(config.data, input_size)``), draws
``N_CALIB`` training images with ``numpy.random.default_rng(seed).choice``
without replacement (the prune stage's calibration procedure), normalises them
with the run's training statistics and caches them in ``data/calib.npz``
(``x`` float32 NCHW, ``idx`` = indices into the training split, ``key``).
The cache is rewritten when the data set, seed or count changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cachekey import stage_key
from ..errors import EdgepruneError
from ..runio import RunDir, atomic_path, sha256_file

N_CALIB = 64  # images per calibration; the quantizers' cost grows with it (see docs/run-directory.md)
CALIB_FILE = "data/calib.npz"


@dataclass
class Calibration:
    """Calibration images (NCHW float32, normalised like the model's input) and where they came from."""

    x: np.ndarray
    record: dict  # {"file", "split": "train", "n", "sha256", "indices": ..., "procedure"}

    @property
    def sha256(self) -> str:
        return self.record["sha256"]


def calib_path(rd: RunDir) -> Path:
    return rd.calib_npz


def _key(run_info: dict, n: int) -> str:
    cfg = run_info.get("config", {})
    return stage_key("int8-calibration", data=cfg.get("data"), input_size=cfg.get("input_size"),
                     seed=run_info.get("seed", 0), n=n, data_info=run_info.get("data")).hex


def _record(rd: RunDir, x: np.ndarray, idx: np.ndarray, run_info: dict) -> dict:
    path = calib_path(rd)
    return {"file": CALIB_FILE, "split": "train", "n": int(len(x)), "sha256": sha256_file(path),
            "indices": f"idx in {CALIB_FILE} ({len(idx)} indices into the training split)",
            "data": run_info.get("config", {}).get("data"),
            "procedure": f"numpy default_rng({run_info.get('seed', 0)}).choice over the training split without "
                         "replacement (as the prune stage draws its calibration images), normalised with the "
                         "training split's mean/std; never the test split"}


def draw_indices(n_train: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_train, size=min(n, n_train), replace=False))


def run_calibration(rd: RunDir, run_info: dict, n: int = N_CALIB) -> Calibration:
    """The run's calibration images, from ``data/calib.npz`` or freshly drawn from the training split."""
    path = calib_path(rd)
    key = _key(run_info, n)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as d:
                if str(d["key"]) == key:
                    x, idx = d["x"].astype(np.float32), d["idx"]
                    return Calibration(x, _record(rd, x, idx, run_info))
        except (OSError, ValueError, KeyError):
            pass  # unreadable or old: rewritten below
    x, idx = _draw(run_info, n)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, x=x, idx=idx, key=np.array(key))
    return Calibration(x, _record(rd, x, idx, run_info))


def _draw(run_info: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    from ..data import load_dataset

    cfg = run_info.get("config", {})
    spec = cfg.get("data")
    if not spec:
        raise EdgepruneError("run.json names no data set, so int8 calibration has no training images.",
                             "Export with --precision fp32, or re-run edgeprune prune.")
    try:
        data = load_dataset(spec, input_size=cfg.get("input_size"))
    except EdgepruneError as e:
        raise EdgepruneError(f"int8 calibration needs the run's training images, but --data {spec!r} does not load "
                             f"here ({e.problem})", "Run export from the directory prune ran in, or use "
                             "--precision fp32.") from None
    recorded = run_info.get("data", {})
    for k in ("mean", "std"):
        if recorded.get(k) is not None and not np.allclose(recorded[k], getattr(data, k), rtol=1e-5, atol=1e-6):
            raise EdgepruneError(f"The data set {spec!r} changed since prune ran (training {k} differs from run.json).",
                                 "Restore the original images, or use --precision fp32.")
    idx = draw_indices(len(data.y_train), n, int(run_info.get("seed", 0)))
    return np.ascontiguousarray(data.normalize(data.x_train[idx]), dtype=np.float32), idx.astype(np.int64)


def file_calibration(path: str | Path, n: int = N_CALIB) -> Calibration:
    """Calibration images from a user's ``.npz`` (key ``x``, NCHW float32, preprocessed) outside a run."""
    p = Path(path)
    if not p.is_file():
        raise EdgepruneError(f"Calibration file {p} does not exist.", "Give an .npz with x (NCHW float32, preprocessed).")
    try:
        with np.load(p, allow_pickle=False) as d:
            x = np.ascontiguousarray(d["x"][:n], dtype=np.float32)
    except (OSError, ValueError, KeyError) as e:
        raise EdgepruneError(f"{p} is not an .npz with an array x ({type(e).__name__}).",
                             "Save it with numpy.savez(path, x=images).") from None
    if x.ndim != 4 or not len(x):
        raise EdgepruneError(f"{p}: x has shape {list(x.shape)}, expected N,C,H,W with N >= 1.",
                             "Save preprocessed NCHW images.")
    return Calibration(x, {"file": str(p), "split": "user-supplied", "n": int(len(x)), "sha256": sha256_file(p),
                           "procedure": f"the first {len(x)} images of x"})


def describe(cal: Calibration) -> str:
    """One line for records and READMEs."""
    return f"{cal.record['n']} {cal.record['split']}-split images ({cal.record['file']})"


__all__ = ["Calibration", "N_CALIB", "CALIB_FILE", "run_calibration", "file_calibration", "describe", "draw_indices"]
