"""Summaries and tables of benchmarks/structured.py: per method and band over seeds, the fastest network
within 1 point per method, one shot vs iterative, and the issue's goals (results.py quotes :func:`render`)."""
from __future__ import annotations

import statistics

PEERS = ("tp-uniform-magnitude", "tp-uniform-taylor", "tp-global-magnitude", "tp-global-taylor")
BANDS = ("conservative", "balanced", "aggressive")  # structured M&M strategies whose param counts the peers match
FORMATS = ("onnx", "tflite")
WITHIN_PT = 1.0


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
        mm_d = per_band.get(f"mm-structured@{b}", {}).get("drop_pt", {})
        mm = mm_d.get("mean")
        peer_d = {p: per_band.get(f"{p}@{b}", {}).get("drop_pt", {}) for p in PEERS}
        peers = {k: v["mean"] for k, v in peer_d.items() if v.get("mean") is not None}
        if mm is not None and peers:
            best = min(peers, key=peers.get)
            # standard error of the difference of two means over seeds: a difference within 2 of them is a tie
            se = (mm_d["std"] ** 2 / mm_d["n"] + peer_d[best]["std"] ** 2 / peer_d[best]["n"]) ** 0.5
            ratio[b] = {"mm_drop_pt": mm, "best_peer": best, "best_peer_drop_pt": peers[best],
                        "ratio": mm / peers[best] if peers[best] > 0 else None, "difference_se_pt": se,
                        "reading": "tie" if abs(mm - peers[best]) <= 2 * se else
                        ("mm loses less" if mm < peers[best] else "peer loses less")}
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
                + ("; ".join(f"{b} {_f(v['ratio'])} ({v['mm_drop_pt']:.2f} vs {v['best_peer']} {v['best_peer_drop_pt']:.2f} pt, "
                             f"{v.get('reading', '-')})"
                             for b, v in drop.items()) or "-")
                + f" ({'met' if g['drop_vs_best_peer']['met'] else 'not met'}); fastest within 1 pt faster than every "
                  f"peer: {'met' if g['fastest_within_1pt_beats_every_peer']['met'] else 'not met'}."]
    return "\n".join(out)
