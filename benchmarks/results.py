"""Render the tables of benchmarks/RESULTS.md from the JSON the benchmark scripts wrote.

    python benchmarks/results.py > /tmp/tables.md

RESULTS.md quotes these tables verbatim; the readings around them are prose.
"""
from __future__ import annotations

import json
import sys

from _common import HERE


def _load(name: str) -> dict | None:
    p = HERE / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _stamp(d: dict) -> str:
    m = d.get("machine") or d.get("host") or {}
    return (f"`{d.get('command', '?')}` — {d.get('date') or d.get('created')} — "
            f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, Python {m.get('python', '?')}")


def _ram(r: dict) -> str:
    if "peak_ram_mb_encoded" not in r:  # size.json written before peak RAM was measured
        return "not measured"
    return f"{r['peak_ram_mb_dense']:.1f} / {r['peak_ram_mb_encoded']:.1f} ({r['peak_ram_ratio']:.2f}x)"


def _load_ms(r: dict) -> str:
    dense, enc = (r["worker_load_ms_dense"], r["worker_load_ms_encoded"]) if "worker_load_ms_dense" in r \
        else (r["load_ms_dense"], r["load_ms_encoded"])
    return f"{dense:.0f} / {enc:.0f}"


def size(d: dict) -> str:
    out = [f"Size ({_stamp(d)}). {d['note']}", "",
           "| model | format | precision | sparsity | dense MB | artifact MB | gzip MB | floor MB | artifact/floor "
           "| latency encoded/dense | load ms dense/encoded | peak RAM MB dense/encoded |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        if r.get("error"):
            out.append(f"| {r['model']} | {r['format']} | {r.get('precision', 'fp32')} | {r['sparsity']:.0%} | "
                       f"export failed: {r['error']} |||||||||")
            continue
        out.append(f"| {r['model']} | {r['format']} | {r.get('precision', 'fp32')} | {r['sparsity']:.0%} | {r['dense_bytes'] / 1e6:.2f} | "
                   f"{r['artifact_bytes'] / 1e6:.2f} | {r['gzip_bytes'] / 1e6:.2f} | {r['floor_bytes'] / 1e6:.2f} | "
                   f"{r['ratio_to_floor']:.3f} | {r['latency_ratio']:.3f} | {_load_ms(r)} | {_ram(r)} |")
    return "\n".join(out)


def pipeline(d: dict) -> str:
    extra = ""
    if d.get("formats"):
        a = d.get("artifacts") or {}
        extra = (f" Formats {', '.join(d['formats'])}, precisions {', '.join(d.get('precisions') or ['fp32'])}; "
                 f"{a.get('exported', '?')} artifact files in the run, {a.get('benched', '?')} bench rows for this "
                 f"target (rejected int8 artifacts have a row with their reason).")
    grains = "; ".join(f"{g}: {v['candidates']} candidates, fine-tuning {v['fine_tune_seconds']:.0f} s"
                       + (f", phase 1 {v['phase1_seconds']:.0f} s" if v.get("phase1_seconds") is not None else "")
                       for g, v in (d.get("granularity") or {}).items())
    out = [f"Pipeline ({_stamp(d)}), target {d['target']}, exit code {d['exit_code']}.{extra}"
           + (f" Granularity: {grains}." if grains else ""), "",
           "| stage | seconds | peak RSS MB |", "|---|---|---|"]
    out += [f"| {s['stage']} | {s['seconds']:.1f} | {s['peak_rss_mb']:.0f} |" for s in d["stages"]]
    out.append(f"| **total** | **{d['build_seconds']:.1f}** | |")
    t = d["training_seconds"]
    if d.get("resumed") or "--resume" in str(d.get("command")):
        out += ["", f"A resumed build on an existing run directory (prune and the shared exports were cached there): "
                    f"the stages above are what this target added. Its {d['candidates']} candidates' training "
                    f"({t['dense']:.0f} s dense, {t['fine_tune']:.0f} s fine-tuning) happened in the earlier build."]
    else:
        out += ["", f"Dense training {t['dense']:.0f} s, fine-tuning {t['fine_tune']:.0f} s ({d['candidates']} candidates). "
                f"Share of wall time outside training: {d['share_outside_fine_tuning']:.0%}; "
                f"export + bench + select + ship: {d['share_export_bench_select_ship']:.0%}."]
    return "\n".join(out)


def repeat(d: dict) -> str:
    s = d["summary"]
    out = [f"Bench repeatability ({_stamp(d)}), target {d['target']}; two consecutive benches took "
           f"{d['bench_seconds'][0]:.0f} s and {d['bench_seconds'][1]:.0f} s. Reported latency within 15%: "
           f"{s['latency_within_15pct']}/{s['artifacts']} (worst {s['latency_worst']:.1%}, mean {s['latency_mean']:.1%}); "
           f"host medians within 15%: {s['host_median_within_15pct']}/{s['artifacts']}; peak RAM worst "
           f"{s['peak_ram_worst']:.2%}.", "",
           "| artifact | latency ms, bench 1 / 2 | latency diff | host median diff | peak RAM diff | rounds |",
           "|---|---|---|---|---|---|"]
    out += [f"| {r['artifact']} | {r['latency_ms'][0]:.3g} / {r['latency_ms'][1]:.3g} | {r['latency_diff']:.1%} | "
            f"{r['host_median_diff']:.1%} | {r['peak_ram_diff']:.2%} | {r['rounds'][0]} / {r['rounds'][1]} |"
            for r in d["rows"]]
    for fmt, pair in (d.get("anchors") or {}).items():
        if all(pair):
            out += ["", f"Anchor ({fmt}, {pair[0]['artifact']}): estimate {pair[0]['estimate_ms']:.3g} / "
                        f"{pair[1]['estimate_ms']:.3g} ms from host floors {pair[0]['host_floor_ms']:.3g} / "
                        f"{pair[1]['host_floor_ms']:.3g} ms over {pair[0]['floors']} / {pair[1]['floors']} timings."]
    return "\n".join(out)


def contention(d: dict) -> str:
    out = [f"Contention trace ({_stamp(d)}): {d['artifact']}, its anchor {d['anchor']} and {d['reference']} "
           f"({d['format']}, 1 thread) in alternating {d['block_seconds']:g}-s blocks for {d['minutes']:g} min; "
           f"replayed as pairs of consecutive {d['bench_seconds']:g}-s benches, {d['rounds']} rounds of "
           f"{d['pair_blocks']} pair blocks each, the anchor also in {d['slots']} other workers' rounds.", "",
           "| estimator | bench pairs | within 15% | within 10% | mean diff | p95 | worst |", "|---|---|---|---|---|---|---|"]
    out += [f"| {k} | {v['pairs']} | {v['within_15pct']:.1%} | {v['within_10pct']:.1%} | {v['mean']:.1%} | "
            f"{v['p95']:.1%} | {v['worst']:.1%} |" for k, v in d["estimators"].items()]
    w = d["windows"]
    span = lambda key: f"{min(x[key] for x in w):.3g}-{max(x[key] for x in w):.3g}"
    out += ["", f"Over {len(w)} windows of 20 s: artifact median {span('a_median')} ms, artifact floor "
                f"{span('a_floor')} ms, anchor median {span('d_median')} ms, reference median {span('r_median')} ms."]
    return "\n".join(out)


def int8(d: dict) -> str:
    out = [f"int8 vs fp32 ({_stamp(d)})."]
    acc = d.get("accuracy")
    if acc:
        out += ["", f"Accuracy on {acc['test_images']} test images of {acc['run']}: worst drop "
                    f"{acc['worst_drop_points']} pp (goal <= {acc['goal_points']:g} pp: "
                    f"{'met' if acc['goal_met'] else 'not met'}); {len(acc['rejected'])} int8 artifact(s) rejected.",
                "", "| candidate | format | fp32 | int8 | drop pp | agreement |", "|---|---|---|---|---|---|"]
        out += [f"| {r['candidate']} | {r['format']} | {r['accuracy_fp32']:.4f} | {r['accuracy_int8']:.4f} | "
                f"{r['drop_points']:+.2f} | {r['agreement']:.1%} |" for r in acc["rows"]]
    if d.get("latency"):
        made = d.get("latency_made_by")
        when = f" (`{made['command']}`, {made['date'][:10]})" if made else ""
        out += ["", f"Host latency, 1 thread, measured on this host (not a device figure){when}:", "",
                "| model | px | format | fp32 ms | int8 ms | int8/fp32 | fp32 MB | int8 MB |", "|---|---|---|---|---|---|---|---|"]
        out += [f"| {r['model']} | {r['input_px']} | {r['format']} | {r['fp32_ms']:.2f} | {r['int8_ms']:.2f} | "
                f"{r['int8_over_fp32']:.3f} | {r['fp32_bytes'] / 1e6:.2f} | {r['int8_bytes'] / 1e6:.2f} |"
                for r in d["latency"]]
    return "\n".join(out)


def with_markdown(d: dict, title: str) -> str:
    return f"{title} ({_stamp(d)}):\n\n{d['markdown']}"


def quality(d: dict, title: str) -> str:
    from quality import front, knees, render, render_front, render_knees, summarise

    cfg = d["config"]
    runs = d["runs"]
    models = ", ".join(m if isinstance(m, str) else m["name"] + "".join(f" {k}={v}" for k, v in m["model_args"].items())
                       for m in cfg["models"])
    return (f"{title} ({_stamp(d)}; {models}; {cfg['seeds']} seed(s), signals {', '.join(cfg['signals'])}, "
            f"fine-tuning <= {cfg['epochs']} epochs, {d['seconds']:.0f} s):\n\n{render(table := summarise(runs, cfg['signals']))}"
            f"\n\nPer method, the knee (mean over seeds):\n\n{render_knees(knees(table))}"
            f"\n\nThe whole Mix-and-Match front (every signal x strategy, mean ± std over seeds):\n\n"
            f"{render_front(front(runs))}")


def scale(d: dict) -> str:
    from scale import render

    return f"Scale ({_stamp(d)}):\n\n{render(d)}"


def structured(d: dict, title: str) -> str:
    from structured_summary import render

    st = d["settings"]
    return (f"{title} ({_stamp(d)}; {st['model']} on {st['data']}, seeds {st['seeds']}, strategies {st['strategies']}, "
            f"<= {st['epochs']} epochs, iterative {st['steps']} steps, {st['latency_rounds']} latency round(s), "
            f"{d['seconds']:.0f} s):\n\n{render(d)}")


def screen(d: dict) -> str:
    out = [f"Screen before export, checked against a bench of every artifact ({_stamp(d)}; run {d['run']}, "
           f"target {d['target']}): {len(d['screened'])} of {d['candidates']} candidates would be screened; "
           f"measured dominance held for {d['dominance_held']} of {d['artifacts_checked']} screened artifacts; "
           f"the full bench chose {d['choice_of_the_full_bench']} "
           f"({'a screened candidate' if d['choice_was_screened'] else 'not a screened candidate'}).", "",
           "| screened | dominated by | held | accuracy | size MB | latency ms | peak RAM MB |", "|---|---|---|---|---|---|---|"]
    for c in d["checks"]:
        f = c.get("figures") or {}
        cell = {k: " / ".join(f"{v:.4g}" for v in f[k]) if k in f else "-" for k in
                ("accuracy", "size_mb", "latency_ms", "peak_ram_mb")}
        out.append(f"| {c['screened']} | {c['dominator']} | {'yes' if c['held'] else 'no'} | {cell['accuracy']} | "
                   f"{cell['size_mb']} | {cell['latency_ms']} | {cell['peak_ram_mb']} |")
    out += ["", "Figures: dominator / screened."]
    return "\n".join(out)


def main() -> int:
    parts = []
    for name, render in (("size", size), ("size-tflite-split", size), ("pipeline", pipeline), ("pipeline-both", pipeline), ("pipeline-jetson-nano", pipeline), ("repeat", repeat), ("contention", contention),
                         ("latency", lambda d: with_markdown(d, "Latency")), ("int8", int8),
                         ("quality-quick", lambda d: quality(d, "Quality, --quick")),
                         ("quality", lambda d: quality(d, "Quality")), ("scale", scale), ("screen", screen),
                         ("structured", lambda d: structured(d, "Structured"))):
        d = _load(name)
        parts.append(f"### {name}\n\n" + (render(d) if d else f"(no {name}.json yet: run benchmarks/{name.split('-')[0]}.py)"))
    print("\n\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
