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
from structured_summary import BANDS, FORMATS, PEERS, render, summarize



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
