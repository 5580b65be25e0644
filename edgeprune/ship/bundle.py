"""Build the ship bundle's files in a directory (the caller makes it atomic)."""
from __future__ import annotations

import platform
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from ..records import DENSE, ManifestRecord, SelectionRecord, write_document
from ..runio import gzip_size, sha256_file
from ..runtimes import open_runner
from ..runtimes import to_layout
from .devicecmds import device_bench
from .evalset import EvalResult, run_eval, subset
from .inputs import ShipInputs
from .manifest import EVAL_FILE, MANIFEST, README, REPORT, SCHEMA, file_entries, tolerance_doc

OUTPUT_MEANING = ("raw logits, one per label (no softmax); the predicted class is labels[argmax]; "
                  "apply softmax for probabilities")


def build_bundle(inp: ShipInputs, out: Path, cache_key: str) -> dict:
    """Write model, eval.npz, README.md, report.html and manifest.json into ``out``."""
    from .readme import render_readme
    from .report import render_report

    fmt = inp.choice["format"]
    model_name = f"model.{fmt}"
    shutil.copyfile(inp.model_path, out / model_name)
    layout = inp.fmt_meta.get("layout") or open_runner(out / model_name).layout
    with np.load(inp.run.test_npz, allow_pickle=False) as d:
        x_all, y_all = d["x"], d["y"]
    idx = subset(len(y_all), int(x_all[0].nbytes) if len(x_all) else 1)
    x, y = to_layout(x_all[idx], layout), y_all[idx].astype(np.int64)
    threads = (inp.choice.get("bench") or {}).get("threads")
    res = run_eval(out / model_name, x, y, layout, threads)
    np.savez(out / EVAL_FILE, x=x, y=y, pred=res.predictions)
    manifest = build_manifest(inp, res, model_name=model_name, model_path=out / model_name, layout=layout,
                              n_eval=len(y), n_test=len(y_all), threads=threads, cache_key=cache_key)
    (out / README).write_text(render_readme(manifest), encoding="utf-8")
    (out / REPORT).write_text(render_report(manifest, inp.selection.to_json(),
                                            inp.candidate and inp.candidate.to_json()), encoding="utf-8")
    manifest["files"] = file_entries(out, [model_name, EVAL_FILE, README, REPORT])
    write_document(ManifestRecord, out / MANIFEST, manifest)
    return manifest


def _precision_notes(inp: ShipInputs) -> dict:
    """What the bundle's precision means for the firmware team (int8: scheme, calibration, agreement)."""
    meta = inp.fmt_meta
    if (inp.choice.get("precision") or "fp32") == "fp32":
        return {"precision": "fp32", "weights": "float32", "io": "float32 input and output"}
    q, a = meta.get("quantization") or {}, meta.get("agreement") or {}
    cal = inp.artifact.calibration
    return {"precision": "int8", "weights": q.get("weights"), "activations": q.get("activations"),
            "io": q.get("io"), "quantizer": f"{q.get('tool')} {q.get('version', '')}".strip(),
            "calibration": {k: cal.get(k) for k in ("file", "split", "n", "sha256", "procedure") if k in cal},
            "agreement": {k: a.get(k) for k in ("twin", "top1_agreement", "max_abs_logit_error", "max_abs_fp32_logit",
                                                 "n", "inputs", "floor", "accuracy_fp32", "accuracy_int8")
                          if k in a}}


def _metric(choice: dict, obj: str, unit: str, **extra) -> dict:
    return {"value": choice[obj], "unit": unit, "provenance": choice["provenance"].get(obj, "unknown"),
            "method": choice.get("methods", {}).get(obj), "uncertainty": (choice.get("uncertainty") or {}).get(obj), **extra}


def _budgets(sel: SelectionRecord, choice: dict) -> dict:
    out = {}
    for name, b in sel.budgets.items():
        v, lim = choice[b["objective"]], b["limit"]
        headroom = None if lim is None else (v - lim if name == "min_accuracy" else lim - v)
        out[name] = {**b, "value": v, "met": headroom is None or headroom >= 0, "headroom": headroom}
    return out


def _candidate(inp: ShipInputs) -> dict:
    c = inp.candidate
    if c is None:
        dense = inp.run_info.dense
        return {"id": DENSE, "strategy": "none (dense baseline)", "signal": None, "global_sparsity": 0.0,
                "global_sparsity_note": "no pruning applied", "weights_sha256": dense.get("sha256"),
                "torch_test_accuracy": dense.get("test_accuracy")}
    structured = c.get("granularity") == "structured"
    return {"id": c.id, "strategy": c.get("strategy"), "signal": c.get("signal"),
            "granularity": c.kind,
            "global_sparsity": c.get("global_sparsity"),
            "global_sparsity_note": "fraction of prunable weights physically removed (channels and heads; the "
                                    "network is a smaller dense one)" if structured else
                                    "fraction of exact zeros over prunable weights, measured on the fine-tuned weights",
            "weights_sha256": c.get("sha256"), "torch_test_accuracy": c.get("test_accuracy"),
            "merged": c.get("merged", [])}


def build_manifest(inp: ShipInputs, res: EvalResult, *, model_name: str, model_path: Path, layout: str,
                   n_eval: int, n_test: int, threads: int | None, cache_key: str) -> dict:
    """Everything a firmware team needs to feed, run and check the model."""
    sel, ch, data, run = inp.selection, inp.choice, inp.run_info.data, inp.run_info
    bench = ch.get("bench") or {}
    lat = bench.get("latency_ms") or {}
    in_shape = list(res.input_shape)
    size_bytes = model_path.stat().st_size
    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "format": ch["format"], "precision": ch.get("precision") or "fp32", "file": model_name, "sha256": sha256_file(model_path), "size_bytes": size_bytes,
        "gzip_bytes": gzip_size(model_path),
        "input": {"name": res.input_name, "shape": in_shape, "dtype": data.get("dtype", "float32"),
                  "layout": layout, "mean": data["mean"], "std": data["std"], "value_range": data["value_range"],
                  "preprocessing": data.get("preprocessing"), "notes": data.get("notes", {})},
        "output": {"name": res.output_name, "shape": res.output_shape, "meaning": OUTPUT_MEANING},
        "labels": data["labels"],
        "metrics": {
            "accuracy": _metric(ch, "accuracy", "top-1 fraction", n_eval=bench.get("n_eval")),
            "latency_ms": _metric(ch, "latency_ms", f"ms, {lat.get('statistic') or 'median'} of one inference",
                                  p90=lat.get("p90"),
                                  low=lat.get("low"), high=lat.get("high"), runs=lat.get("runs"), threads=threads,
                                  device_threads=bench.get("threads_profile") or threads),
            "peak_ram_mb": _metric(ch, "peak_ram_mb", "MB, peak resident memory while running"),
            "size_mb": _metric(ch, "size_mb", "MB (10^6 bytes) of the model file", bytes=size_bytes),
        },
        "bench": {"mode": bench.get("bench_mode"), "file": sel.bench["file"], "sha256": sel.bench["sha256"],
                  "reference": sel.bench.get("reference")},
        "target": {"name": sel.target, "budgets": _budgets(sel, ch), "format_policy": sel.get("format_policy")},
        "candidate": _candidate(inp),
        "selection": {"key": ch["key"], "front": sel.front, "rows": len(sel.rows),
                      "selection_created": sel.get("created")},
        "source": {"model": run.model, "checkpoint": run.get("config", {}).get("checkpoint"),
                   "checkpoint_sha256": run.dense.get("sha256"),
                   "dense_trained_by_edgeprune": run.dense.get("trained"),
                   "artifact": str(inp.model_path.relative_to(inp.run.root)), "export": {
                       k: inp.fmt_meta[k] for k in ("opset", "encoding", "parity", "quantization", "agreement")
                       if k in inp.fmt_meta}},
        "precision_notes": _precision_notes(inp),
        "versions": {"edgeprune": __version__, "runtime": {"name": res.runtime, "version": res.runtime_version},
                     "bench_runtime": {"name": bench.get("runtime"), "version": bench.get("runtime_version")},
                     "python": platform.python_version(), "numpy": np.__version__,
                     "host": run.get("versions", {})},
        "eval": {"file": EVAL_FILE, "n": n_eval, "of_test_images": n_test, "x_layout": layout,
                 "keys": {"x": "preprocessed float32 inputs in the model's layout", "y": "int64 labels",
                          "pred": "top-1 predictions at ship time"},
                 "expected_accuracy": res.accuracy, "runtime": res.runtime, "runtime_version": res.runtime_version,
                 "machine": res.machine, "threads": threads, "tolerance": tolerance_doc(n_eval)},
        "device_bench": device_bench(sel.target, ch["format"], model_name,
                                     _profile_runtime(sel, ch["format"]).get("runtime"),
                                     _profile_runtime(sel, ch["format"]).get("threads") or bench.get("threads_profile")),
        "cache_key": cache_key,
    }


def _profile_runtime(sel: SelectionRecord, fmt: str) -> dict:
    """The target profile's runtime record for ``fmt`` (selection.json keeps the profile)."""
    return ((sel.get("target_profile") or {}).get("runtimes") or {}).get(fmt) or {}
