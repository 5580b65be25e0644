"""Structured Mix-and-Match against dense and against Torch-Pruning's own pruners, on the default run.

Per seed (resnet18 on digits, the default build's model and data):
- the prune stage with ``--granularity both``, one shot and ``--schedule iterative --steps 3`` (same
  fine-tuning budget; channels on Torch-Pruning's linear steps, weights on the cubic ramp), Mix-and-Match
  with its default signals (product for the unstructured candidates, magnitude for the structured ones;
  before 2026-12-01 08:00 product for both); structured candidates and peers fine-tune at half the dense
  training rate after BatchNorm is re-estimated (before 2026-12-01 11:00: the paper's 5e-5, no re-estimate);
- peers a user would otherwise run: Torch-Pruning's uniform (``pruning_ratio``) and global
  (``global_pruning=True``) pruning with ``GroupMagnitudeImportance`` and ``GroupTaylorImportance``
  (their defaults, classifier ignored), each bisected to the prunable-parameter count of the structured
  Mix-and-Match candidates of three bands (conservative, balanced, aggressive strategies) and fine-tuned
  with the same recipe and budget (BatchNorm re-estimated after the cut, then early stopping on validation);
- every structured network, one unstructured candidate and dense exported to ONNX and TFLite (parity-
  checked by the export stage) and timed on this host with 1 thread, each in a fresh bench worker paired
  with the dense artifact of its format in the same process (alternating blocks: the ratio cancels what
  slows both alike); peak RAM is the worker's VmHWM growth after loading and running the model.

Reported: params, MACs, speed-up over dense (1 / paired ratio, median over rounds), peak RAM, test accuracy
drop vs dense in points, mean +- std over seeds per method and band; per method the fastest network within
1 point of dense; one-shot vs iterative at the same budget, for both granularities (the same plans,
paired). Figures are measured on this shared 2-core host (``measured-on-host``); a difference within the
seeds' spread is called a tie.

    python benchmarks/structured.py                   # 3 seeds, all ten strategies, 12 epochs max (hours here)
    python benchmarks/structured.py --quick           # 1 seed, 3 strategies, 3 epochs, 1 latency round

Everything is cached under --cache: a killed run resumes where it stopped.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

from _common import header, save

PEERS = ("tp-uniform-magnitude", "tp-uniform-taylor", "tp-global-magnitude", "tp-global-taylor")
BANDS = ("conservative", "balanced", "aggressive")  # structured M&M strategies whose param counts the peers match
FORMATS = ("onnx", "tflite")
WITHIN_PT = 1.0


def cached(path: Path, key: str, compute):
    from edgeprune.runio import read_json, write_json

    if path.exists() and (doc := read_json(path)).get("key") == key:
        return doc["result"]
    result = compute()
    write_json(path, {"key": key, "result": result})
    return result


# ---------------------------------------------------------------- Torch-Pruning peers
def tp_prune(dense, method: str, ratio: float, example, grads):
    """A copy of ``dense`` pruned by Torch-Pruning's own pruner (uniform or global, magnitude or Taylor)."""
    import copy

    import torch_pruning as tp

    from edgeprune.prune.structured.groups import classifier_modules, quiet

    model = copy.deepcopy(dense)
    if "taylor" in method:  # Taylor reads .grad: the calibration gradient of the dense model
        for p, g in zip(model.parameters(), grads):
            p.grad = g.clone()
    imp = tp.importance.GroupTaylorImportance() if "taylor" in method else tp.importance.GroupMagnitudeImportance(p=2)
    with quiet():
        pruner = tp.pruner.MetaPruner(model, example, importance=imp, pruning_ratio=ratio,
                                      global_pruning="global" in method, ignored_layers=classifier_modules(model))
        pruner.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


def match_params(dense, method: str, target: int, example, grads, tol: float = 0.005):
    """Bisect Torch-Pruning's pruning_ratio until the prunable weights are within ``tol`` of ``target``."""
    from edgeprune.prune.structured.candidate import count

    lo, hi, best = 0.0, 0.99, None
    for _ in range(16):
        mid = (lo + hi) / 2
        model = tp_prune(dense, method, mid, example, grads)
        n = count(model, example)["prunable_params"]
        if best is None or abs(n - target) < abs(best[1] - target):
            best = (mid, n, model)
        if abs(n - target) <= tol * target:
            break
        lo, hi = (mid, hi) if n > target else (lo, mid)
    return best


def run_peers(rd, spec, data, cfg, calib, targets: dict[str, int], cache: Path):
    """Peer results by id, and a loader that rebuilds a peer (re-prune the dense copy, load its safetensors)."""
    import torch

    from edgeprune.models import build, load_weights, read_state_dict
    from edgeprune.prune.recipes import structured_finetune_recipe
    from edgeprune.prune.structured.candidate import count, recover
    from edgeprune.prune.structured.plan import example_input
    from edgeprune.cachekey import define, stage_key
    from edgeprune.runio import read_json
    from edgeprune.train import accuracy

    define("structured-peer", ("dense", "method", "target", "recipe", "calib", "v"))  # idempotent

    dense_sha = read_json(rd.run_json)["dense"]["sha256"]
    dense = build(spec, rd.dense_weights)
    example = example_input(data.input_shape)
    dense.zero_grad(set_to_none=True)
    for xb, yb in calib:
        (torch.nn.functional.cross_entropy(dense(xb), yb) / len(calib)).backward()
    grads = [p.grad.detach().clone() for p in dense.parameters()]
    dense.zero_grad(set_to_none=True)
    recipe = structured_finetune_recipe(cfg)
    out = {}
    for band, target in targets.items():
        for method in PEERS:
            pid = f"{method}-{band}"
            key = stage_key("structured-peer", dense=dense_sha, method=method, target=target, recipe=recipe.to_json(),
                            calib=cfg.calib_size, v=2).hex

            def compute():
                ratio, n, model = match_params(dense, method, target, example, grads)
                t0 = time.perf_counter()
                step = recover(model, data, recipe)  # as Mix-and-Match's candidates: BatchNorm re-estimated, then fine-tuned
                _save(model, _peer_path(cache, pid))
                return {"id": pid, "method": method, "band": band, "pruning_ratio": ratio,
                        "target_prunable_params": target, **count(model, example),
                        "test_accuracy": accuracy(model, data.normalize(data.x_test), data.y_test),
                        "val_accuracy": accuracy(model, data.normalize(data.x_val), data.y_val),
                        "epochs": step["epochs"], "steps": [step], "seconds": round(time.perf_counter() - t0, 1)}

            out[pid] = cached(cache / "peers" / f"{pid}.json", key, compute)
            _log(f"  peer {pid}: ratio {out[pid]['pruning_ratio']:.3f}, test {out[pid]['test_accuracy']:.4f}")

    def load(pid: str):
        """Same pruner, ratio and dense weights give the same shapes; then the fine-tuned safetensors."""
        model = tp_prune(dense, out[pid]["method"], out[pid]["pruning_ratio"], example, grads)
        load_weights(model, read_state_dict(_peer_path(cache, pid)), source=pid)
        return model.eval()

    return out, load


def _peer_path(cache: Path, pid: str) -> Path:
    return cache / "peers" / f"{pid}.safetensors"


def _save(model, path: Path) -> None:
    from edgeprune.prune.candidate import save_weights

    path.parent.mkdir(parents=True, exist_ok=True)
    save_weights(model, path)


# ---------------------------------------------------------------- export + latency
def export_all(rd, spec, ids: list[str], peers: dict, load_peer, cache: Path) -> dict[str, dict]:
    """ONNX + TFLite of run candidates (through the export stage) and of the peers (same converters)."""
    from edgeprune.export import export_run
    from edgeprune.export.pipeline import export_source
    from edgeprune.export.sources import ParityInputs, Source, run_inputs

    records = export_run(rd.root, formats=list(FORMATS), candidates=ids, precisions="fp32")
    inputs: ParityInputs = run_inputs(rd)
    shape = [1, *inputs.x.shape[1:]]
    for pid in peers:
        path = _peer_path(cache, pid)
        src = Source(pid, path, str(path), spec, shape, lambda p=pid: load_peer(p))
        records[pid] = export_source(src, list(FORMATS), cache / "artifacts", inputs)
    return records


def time_artifact(path: Path, dense: Path, npz: Path, rounds: int) -> dict:
    from edgeprune.bench.client import run_worker
    from edgeprune.bench.settings import Job

    ratios, peaks, meds = [], [], []
    acc = None
    for _ in range(rounds):
        res = run_worker(Job(str(path), threads=1, eval_npz=str(npz), reference=str(dense), pair_blocks=6,
                             pair_block_seconds=0.05, target_seconds=1.0, max_seconds=120.0, warmup_seconds=0.3),
                         timeout=600)
        if res.get("error"):
            return {"error": res["error"]}
        ratios.append(res["paired"]["ratio"])
        peaks.append(res["peak_ram_mb"])
        meds.append(res["latency_ms"]["median"])
        acc = res.get("accuracy")
    ratio = statistics.median(ratios)
    return {"paired_ratio": ratio, "speedup": 1 / ratio, "ratios": ratios, "host_median_ms": statistics.median(meds),
            "peak_ram_mb": statistics.median(peaks), "runtime_accuracy": acc}


def measure_all(rd, records: dict, cache: Path, rounds: int) -> dict:
    out = {}
    for cid, rec in records.items():
        base = rd.artifacts_dir if (rd.artifacts_dir / f"{cid}.json").exists() and not cid.startswith("tp-") \
            else cache / "artifacts"
        for fmt in FORMATS:
            entry = rec["formats"].get(fmt, {})
            if "error" in entry:
                out[f"{cid}.{fmt}"] = {"error": entry["error"]}
                continue
            dense = rd.artifacts_dir / f"dense.{'onnx' if fmt == 'onnx' else 'tflite'}"
            out[f"{cid}.{fmt}"] = cached(cache / "timing" / f"{cid}.{fmt}.json", f"{entry['sha256']}-{rounds}",
                                         lambda: time_artifact(base / entry["file"], dense, rd.test_npz, rounds))
            _log(f"  timed {cid}.{fmt}: x{out[f'{cid}.{fmt}'].get('speedup', float('nan')):.2f}")
    return out


# ---------------------------------------------------------------- one seed
def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_seed(seed: int, strategies: list[str] | None, epochs: int, steps: int, rounds: int, cache: Path) -> dict:
    from edgeprune.data import load_dataset
    from edgeprune.models import ModelSpec
    from edgeprune.prune import PruneConfig, run_prune
    from edgeprune.prune import calibration
    from edgeprune.runio import RunDir, read_json

    root = cache / f"seed{seed}"
    base = dict(model="resnet18", data="digits", seed=seed, strategies=strategies, finetune_epochs=epochs)
    t0 = time.perf_counter()
    oneshot = run_prune(PruneConfig(**base, granularity="both"), root / "oneshot")
    t_oneshot = time.perf_counter() - t0
    it_dir = root / "iterative"
    if not (it_dir / "dense").exists():  # same dense network: copy it rather than train it again
        shutil.copytree(root / "oneshot" / "dense", it_dir / "dense")
    t0 = time.perf_counter()
    iterative = run_prune(PruneConfig(**base, granularity="both", schedule="iterative", steps=steps), it_dir)
    t_iter = time.perf_counter() - t0
    it_struct = [c for c in iterative.candidates if c["granularity"] == "structured"]
    rd = RunDir(root / "oneshot")
    run = read_json(rd.run_json)
    spec = ModelSpec.from_json(run["model"])
    data = load_dataset("digits")
    cfg = PruneConfig(**base)
    struct = {c["strategy"]: c for c in oneshot.candidates if c["granularity"] == "structured"}
    targets = {b: struct[b]["prunable_params"]["pruned"] for b in BANDS if b in struct}
    peers, load_peer = run_peers(rd, spec, data, cfg, calibration(data, cfg), targets, root)
    # iterative candidates live in another run dir: export them from there, time them against oneshot's dense
    unstructured = max((c for c in oneshot.candidates if c["granularity"] == "unstructured"),
                       key=lambda c: c["global_sparsity"])
    records = export_all(rd, spec, ["dense", *[c["id"] for c in struct.values()], unstructured["id"]], peers, load_peer,
                         root)
    from edgeprune.export import export_run

    it_rd = RunDir(it_dir)
    it_records = export_run(it_dir, formats=list(FORMATS), candidates=[c["id"] for c in it_struct],
                            precisions="fp32")
    timing = measure_all(rd, records, root, rounds)
    for cid, rec in it_records.items():
        for fmt in FORMATS:
            entry = rec["formats"][fmt]
            if "error" not in entry:
                timing[f"iterative:{cid}.{fmt}"] = cached(
                    root / "timing" / f"iterative-{cid}.{fmt}.json", f"{entry['sha256']}-{rounds}",
                    lambda e=entry, f=fmt: time_artifact(it_rd.artifacts_dir / e["file"], rd.artifacts_dir / f"dense.{f}",
                                                         rd.test_npz, rounds))
    dense_acc = run["dense"]["test_accuracy"]
    rows = []

    def add(method: str, band: str | None, rec: dict, tkey: str, params: dict, macs: dict | None):
        row = {"method": method, "band": band, "id": rec["id"], "test_accuracy": rec["test_accuracy"],
               "drop_pt": (dense_acc - rec["test_accuracy"]) * 100, "prunable_params": params, "macs": macs}
        for fmt in FORMATS:
            row[fmt] = timing.get(f"{tkey}.{fmt}")
        rows.append(row)

    dense_counts = read_json(rd.ranges_structured_json)["dense_counts"]
    add("dense", None, {"id": "dense", "test_accuracy": dense_acc}, "dense", dense_counts["prunable_params"],
        dense_counts["macs"])
    for c in oneshot.candidates:
        if c["granularity"] == "structured":
            add("mm-structured", c["strategy"] if c["strategy"] in BANDS else None, c, c["id"],
                c["prunable_params"]["pruned"], c["macs"]["pruned"])
    add("mm-unstructured", None, unstructured, unstructured["id"],
        round(dense_counts["prunable_params"] * (1 - unstructured["global_sparsity"])), None)
    for c in it_struct:
        add("mm-structured-iterative", c["strategy"] if c["strategy"] in BANDS else None, c, f"iterative:{c['id']}",
            c["prunable_params"]["pruned"], c["macs"]["pruned"])
    for p in peers.values():
        add(p["method"], p["band"], p, p["id"], p["prunable_params"], p["macs"])
    one = {c["id"]: c for c in oneshot.candidates}
    schedules = [{"granularity": c["granularity"], "strategy": c["strategy"], "id": c["id"],
                  "oneshot_drop_pt": (dense_acc - one[c["id"]]["test_accuracy"]) * 100,
                  "iterative_drop_pt": (dense_acc - c["test_accuracy"]) * 100,
                  "global_sparsity": c["global_sparsity"], "epochs": {"oneshot": one[c["id"]]["epochs"],
                                                                      "iterative": c["epochs"]}}
                 for c in iterative.candidates if c["id"] in one]
    return {"seed": seed, "dense_test_accuracy": dense_acc, "rows": rows, "schedules": schedules,
            "seconds": {"prune_oneshot_both": round(t_oneshot, 1), "prune_iterative_both": round(t_iter, 1)}}


# ---------------------------------------------------------------- summary
def _ms(vals: list[float]) -> dict:
    vals = [v for v in vals if v is not None]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.mean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)}


def _speed(row: dict, fmt: str) -> float | None:
    t = row.get(fmt) or {}
    return t.get("speedup")


def summarize(seeds: list[dict]) -> dict:
    methods = ["mm-structured", "mm-structured-iterative", *PEERS]
    per_band = {}
    for m in methods:
        for b in BANDS:
            rows = [r for s in seeds for r in s["rows"] if r["method"] == m and r["band"] == b]
            if rows:
                per_band[f"{m}@{b}"] = {"drop_pt": _ms([r["drop_pt"] for r in rows]),
                                        "prunable_params": _ms([r["prunable_params"] for r in rows]),
                                        **{f"speedup_{f}": _ms([_speed(r, f) for r in rows]) for f in FORMATS}}
    fastest = {}
    for m in ["mm-structured", "mm-structured-iterative", *PEERS]:
        per_seed = []
        for s in seeds:
            ok = [r for r in s["rows"] if r["method"] == m and r["drop_pt"] <= WITHIN_PT and _speed(r, "onnx")]
            best = max(ok, key=lambda r: _speed(r, "onnx"), default=None)
            per_seed.append(None if best is None else {"id": best["id"], "drop_pt": best["drop_pt"],
                                                       **{f"speedup_{f}": _speed(best, f) for f in FORMATS},
                                                       "peak_ram_mb_onnx": (best.get("onnx") or {}).get("peak_ram_mb")})
        fastest[m] = {"per_seed": per_seed, "speedup_onnx": _ms([p and p["speedup_onnx"] for p in per_seed]),
                      "speedup_tflite": _ms([p and p["speedup_tflite"] for p in per_seed])}
    goals = _goals(seeds, per_band, fastest)
    return {"per_band": per_band, "fastest_within_1pt": fastest, "goals": goals, "schedules": compare_schedules(seeds)}


def compare_schedules(seeds: list[dict]) -> dict:
    """One shot vs iterative at the same epoch budget, per granularity: the same plans, paired by seed and
    strategy; a mean paired difference within two standard errors is a tie."""
    out = {}
    for gran in ("unstructured", "structured"):
        pairs = [p for s in seeds for p in s.get("schedules", []) if p["granularity"] == gran]
        if not pairs:
            continue
        diff = [p["iterative_drop_pt"] - p["oneshot_drop_pt"] for p in pairs]
        d = _ms(diff)
        se = d["std"] / len(diff) ** 0.5 if len(diff) > 1 else float("inf")
        verdict = "tie" if abs(d["mean"]) <= 2 * se else ("iterative loses less" if d["mean"] < 0 else "one shot loses less")
        out[gran] = {"pairs": len(pairs), "oneshot_drop_pt": _ms([p["oneshot_drop_pt"] for p in pairs]),
                     "iterative_drop_pt": _ms([p["iterative_drop_pt"] for p in pairs]),
                     "iterative_minus_oneshot_pt": d, "standard_error_pt": se,
                     "iterative_better": sum(x < 0 for x in diff), "oneshot_better": sum(x > 0 for x in diff),
                     "equal": sum(x == 0 for x in diff), "verdict": verdict}
    return out


def _goals(seeds, per_band, fastest) -> dict:
    dense_ram = {f: _ms([(r.get(f) or {}).get("peak_ram_mb") for s in seeds for r in s["rows"] if r["method"] == "dense"])
                 for f in FORMATS}
    hits = [(s["seed"], r["id"], _speed(r, "onnx"), _speed(r, "tflite"), r["drop_pt"],
             (r.get("onnx") or {}).get("peak_ram_mb"), (r.get("tflite") or {}).get("peak_ram_mb"))
            for s in seeds for r in s["rows"] if r["method"] == "mm-structured"]
    dense_rows = {s["seed"]: next(r for r in s["rows"] if r["method"] == "dense") for s in seeds}
    fast = [h for h in hits if h[2] and h[2] >= 3 and h[4] <= WITHIN_PT
            and h[5] is not None and h[5] < (dense_rows[h[0]].get("onnx") or {}).get("peak_ram_mb", 0)]
    ratio = {}
    for b in BANDS:
        mm = per_band.get(f"mm-structured@{b}", {}).get("drop_pt", {}).get("mean")
        peers = {p: per_band.get(f"{p}@{b}", {}).get("drop_pt", {}).get("mean") for p in PEERS}
        peers = {k: v for k, v in peers.items() if v is not None}
        if mm is not None and peers:
            best = min(peers, key=peers.get)
            ratio[b] = {"mm_drop_pt": mm, "best_peer": best, "best_peer_drop_pt": peers[best],
                        "ratio": mm / peers[best] if peers[best] > 0 else None}
    mm_fast = fastest["mm-structured"]["speedup_onnx"]["mean"]
    peer_fast = {p: fastest[p]["speedup_onnx"]["mean"] for p in PEERS}
    return {
        "3x_within_1pt_lower_ram": {"met": bool(fast), "candidates": fast,
                                    "reading": "ONNX Runtime speed-up >= 3, test drop <= 1 pt, peak RAM below dense"},
        "dense_peak_ram_mb": dense_ram,
        "drop_vs_best_peer": {"per_band": ratio, "goal": "<= 0.6",
                              "met": bool(ratio) and all(v["ratio"] is not None and v["ratio"] <= 0.6 for v in ratio.values())},
        "fastest_within_1pt_beats_every_peer": {
            "mm_speedup_onnx": mm_fast, "peers": peer_fast,
            "met": mm_fast is not None and all(v is None or mm_fast > v for v in peer_fast.values())},
    }


# ---------------------------------------------------------------- markdown (results.py quotes it)
def _f(v, fmt: str = ".2f", none: str = "-") -> str:
    return none if v is None else format(v, fmt)


def _pm(d: dict, fmt: str = ".2f") -> str:
    return "-" if d.get("mean") is None else f"{d['mean']:{fmt}} ± {d['std']:{fmt}}"


def render(doc: dict) -> str:
    """Tables: every network of the first seed, per method and band over seeds, fastest within 1 pt, goals."""
    seed = doc["seeds"][0]
    out = [f"Seed {seed['seed']}, dense test accuracy {seed['dense_test_accuracy']:.4f}. Speed-up = dense / network, "
           "paired in one worker, 1 thread (measured-on-host); peak RAM = worker VmHWM growth.", "",
           "| network | method | band | prunable params | MACs | ONNX speed-up | TFLite speed-up | ONNX peak RAM MB "
           "| TFLite peak RAM MB | test drop pt |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in seed["rows"]:
        o, t = r.get("onnx") or {}, r.get("tflite") or {}
        out.append(f"| {r['id']} | {r['method']} | {r['band'] or '-'} | {r['prunable_params'] / 1e6:.2f}M | "
                   f"{_f(r['macs'] and r['macs'] / 1e6, '.1f')}M | {_f(o.get('speedup'))} | {_f(t.get('speedup'))} | "
                   f"{_f(o.get('peak_ram_mb'), '.1f')} | {_f(t.get('peak_ram_mb'), '.1f')} | {r['drop_pt']:.2f} |")
    summ = doc["summary"]
    out += ["", f"Per method and band, mean ± std over {len(doc['seeds'])} seed(s):", "",
            "| method@band | prunable params (M) | test drop pt | ONNX speed-up | TFLite speed-up |", "|---|---|---|---|---|"]
    for k, v in summ["per_band"].items():
        out.append(f"| {k} | {v['prunable_params']['mean'] / 1e6:.2f} | {_pm(v['drop_pt'])} | {_pm(v['speedup_onnx'])} "
                   f"| {_pm(v['speedup_tflite'])} |")
    out += ["", "Fastest network within 1 point of dense, per method (ONNX Runtime speed-up; per seed the id):", "",
            "| method | ONNX speed-up | TFLite speed-up | networks |", "|---|---|---|---|"]
    for m, v in summ["fastest_within_1pt"].items():
        ids = ", ".join(p["id"] if p else "none" for p in v["per_seed"])
        out.append(f"| {m} | {_pm(v['speedup_onnx'])} | {_pm(v['speedup_tflite'])} | {ids} |")
    if summ.get("schedules"):
        out += ["", "One shot vs iterative (same plans and epoch budget; drop = test points below dense; paired over "
                    "seeds and strategies):", "",
                "| granularity | pairs | one-shot drop pt | iterative drop pt | iterative - one-shot pt | "
                "iterative better / worse / equal | reading |", "|---|---|---|---|---|---|---|"]
        for gran, v in summ["schedules"].items():
            out.append(f"| {gran} | {v['pairs']} | {_pm(v['oneshot_drop_pt'])} | {_pm(v['iterative_drop_pt'])} | "
                       f"{_pm(v['iterative_minus_oneshot_pt'])} | {v['iterative_better']} / {v['oneshot_better']} / "
                       f"{v['equal']} | {v['verdict']} |")
    g = summ["goals"]
    drop = g["drop_vs_best_peer"]["per_band"]
    out += ["", f"Goals: >= 3x faster (ONNX Runtime) within 1 pt and below dense peak RAM: "
                f"{'met' if g['3x_within_1pt_lower_ram']['met'] else 'not met'}; drop <= 0.6x the best peer's: "
                + ("; ".join(f"{b} {_f(v['ratio'])} ({v['mm_drop_pt']:.2f} vs {v['best_peer']} {v['best_peer_drop_pt']:.2f} pt)"
                             for b, v in drop.items()) or "-")
                + f" ({'met' if g['drop_vs_best_peer']['met'] else 'not met'}); fastest within 1 pt faster than every "
                  f"peer: {'met' if g['fastest_within_1pt_beats_every_peer']['met'] else 'not met'}."]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 seed, 3 strategies, 3 epochs, 1 latency round")
    p.add_argument("--seeds", default=None, help="comma list (default 0,1,2; quick: 0)")
    p.add_argument("--epochs", type=int, default=None, help="max fine-tuning epochs (default 12; quick: 3)")
    p.add_argument("--steps", type=int, default=3, help="cycles of the iterative schedule")
    p.add_argument("--rounds", type=int, default=None, help="latency rounds per artifact (default 3; quick: 1)")
    p.add_argument("--cache", default="/tmp/edgeprune-structured-bench")
    args = p.parse_args(argv)
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    epochs = args.epochs if args.epochs is not None else (3 if args.quick else 12)
    rounds = args.rounds or (1 if args.quick else 3)
    strategies = list(BANDS) if args.quick else None
    cache = Path(args.cache) / f"e{epochs}"
    t0 = time.perf_counter()
    results = []
    for s in seeds:
        _log(f"== seed {s}")
        results.append(run_seed(s, strategies, epochs, args.steps, rounds, cache))
    from edgeprune.prune.config import DEFAULT_SIGNALS

    doc = {**header(["benchmarks/structured.py", *(argv if argv is not None else sys.argv[1:])]),
           "settings": {"model": "resnet18", "data": "digits", "seeds": seeds, "epochs": epochs, "steps": args.steps,
                        "latency_rounds": rounds, "strategies": strategies or "all ten",
                        "signals": {k: list(v) for k, v in DEFAULT_SIGNALS.items()},
                        "threads": 1, "peers": list(PEERS), "bands": list(BANDS)},
           "provenance": {"latency": "measured-on-host: paired with dense in one bench worker (alternating blocks), "
                                     "1 thread, median ratio over rounds",
                          "peak_ram": "measured-on-host: bench worker VmHWM growth (MB = 10^6 bytes)",
                          "accuracy": "measured: PyTorch top-1 on the fixed test split"},
           "seconds": round(time.perf_counter() - t0, 1), "seeds": results, "summary": summarize(results)}
    path = save("structured-quick" if args.quick else "structured", doc)
    _log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
