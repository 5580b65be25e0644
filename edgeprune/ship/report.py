"""report.html: one self-contained page (PNG plots embedded as base64, no scripts)."""
from __future__ import annotations

import json
from html import escape

from .pareto import OBJ_LABEL, pareto_png, png_base64
from .precision_notes import int8_facts

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 16px}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:200px}
.card .v{font-size:20px;font-weight:600}.card .m{color:#666;font-size:12px;max-width:260px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.n{text-align:right;white-space:nowrap}tr.chosen{background:#fff3f0;font-weight:600}
.prov{display:inline-block;font-size:11px;border-radius:3px;padding:0 4px;margin-left:4px;font-weight:400}
.prov-measured{background:#e3f4e3;color:#1b5e20}.prov-measured-on-host{background:#e3ecf8;color:#0d47a1}
.prov-estimated{background:#fff0d9;color:#8a4b00}.prov-unknown{background:#eee;color:#555}
.ok{color:#1b5e20}.bad{color:#b71c1c}img{max-width:100%;height:auto}code{font-size:12px}
"""


def sparsity_png(candidate: dict) -> str:
    """Measured (bars) and planned (ticks) sparsity of each pruned layer, or removed channels of each
    group for a structured candidate (base64 PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = candidate.get("measured") or {}
    planned = candidate.get("planned") or {}
    names = list(measured)
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.2 * len(names) + 1.2)))
    y = list(range(len(names)))
    structured = candidate.get("granularity") == "structured"
    ax.barh(y, [measured[n] for n in names], color="#1f77b4",
            label="measured (units left in the network)" if structured else "measured (exact zeros in the weights)")
    ax.scatter([planned.get(n, float("nan")) for n in names], y, marker="|", s=120, color="#d62728",
               label="planned by the strategy", zorder=3)
    ax.set_yticks(y, [n.removesuffix(".weight") for n in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of channels (heads) removed per group" if structured
                  else "sparsity (fraction of weights that are zero)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    out = png_base64(fig)
    plt.close(fig)
    return out


def _prov(p: str | None) -> str:
    p = p or "unknown"
    return f'<span class="prov prov-{escape(p)}">{escape(p)}</span>'


def _fig(v: float | None, obj: str) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if obj == "accuracy" else f"{v:.3f}"


def _cards(m: dict) -> str:
    names = {"accuracy": "Accuracy", "latency_ms": "Latency (ms)", "peak_ram_mb": "Peak RAM (MB)", "size_mb": "Size (MB)"}
    return '<div class="cards">' + "".join(
        f'<div class="card"><div>{names[k]}{_prov(f["provenance"])}</div><div class="v">{_fig(f["value"], k)}'
        f'{_interval({"uncertainty": {k: f.get("uncertainty")}}, k)}</div>'
        f'<div class="m">{escape(f.get("method") or "")}</div></div>' for k, f in m["metrics"].items()) + "</div>"


def _budget_rows(m: dict) -> str:
    out = []
    for name, b in m["target"]["budgets"].items():
        obj = b["objective"]
        status = '<span class="ok">met</span>' if b["met"] else '<span class="bad">broken</span>'
        limit = "no limit" if b["limit"] is None else _fig(b["limit"], obj)
        out.append(f"<tr><td>{name}</td><td class=n>{limit}</td><td>{escape(b['source'])}</td>"
                   f"<td class=n>{_fig(b['value'], obj)}{_prov(m['metrics'][obj]['provenance'])}</td><td>{status}</td></tr>")
    return "".join(out)


def _interval(r: dict, obj: str) -> str:
    """The figure's uncertainty interval, if it has a width."""
    u = (r.get("uncertainty") or {}).get(obj) or {}
    if u.get("low") is None or u.get("high") is None or u["low"] == u["high"]:
        return ""
    band = f", band &plusmn;{u['band']:.0%}" if u.get("band") else ""
    return f'<br><small title="{escape(u.get("how") or "")}">[{_fig(u["low"], obj)}, {_fig(u["high"], obj)}]{band}</small>'


def _tolerances(sel: dict) -> str:
    tol = sel.get("tolerances") or {}
    parts = [f"{o} {t['value']:g}" + (" (absolute)" if t["kind"].startswith("absolute") else " (relative)")
             + ("" if t["source"] == "default" else f" from {t['source']}") for o, t in tol.items()]
    return (f" A difference is a tie when it lies within the figures' uncertainty (intervals under each figure) or "
            f"the tolerances: {escape(', '.join(parts))}." if parts else "")


def _candidate_rows(sel: dict) -> str:
    out = []
    for r in sorted(sel["rows"], key=lambda r: (not r["chosen"], not r["pareto"], not r["feasible"], r["key"])):
        cells = "".join(f"<td class=n>{_fig(r.get(o), o)}{_prov(r['provenance'].get(o)) if r.get(o) is not None else ''}"
                        f"{_interval(r, o)}</td>" for o in OBJ_LABEL)
        flags = " ".join(f for f, on in (("feasible", r["feasible"]), ("pareto", r["pareto"])) if on)
        out.append(f'<tr class="{"chosen" if r["chosen"] else ""}"><td><code>{escape(r["key"])}</code></td>{cells}'
                   f"<td>{flags or '-'}</td><td>{escape(r['reason'])}</td></tr>")
    return "".join(out)


REF_KEYS = ("model", "input_size", "published_runtime", "published_latency_ms", "device_reference_ms",
            "host_latency_ms", "scale", "error_band", "source")


def _ref_text(r: dict) -> str:
    """The scalar facts of a bench latency reference, in a fixed order."""
    parts = [f"{k}={r[k]:.4g}" if isinstance(r[k], float) else f"{k}={r[k]}"
             for k in REF_KEYS if isinstance(r.get(k), (str, int, float))]
    return ", ".join(parts) or "no details recorded"


def _methods(m: dict, sel: dict) -> str:
    items = [f"<li><b>{OBJ_LABEL[k]}</b>{_prov(f['provenance'])}: {escape(f.get('method') or 'no method recorded')}</li>"
             for k, f in m["metrics"].items()]
    ref = sel["bench"].get("reference") or {}
    refs = "".join(f"<li>{escape(fmt)} latency reference: {escape(_ref_text(r))}</li>"
                   for fmt, r in ref.items() if isinstance(r, dict))
    return (f"<ul>{''.join(items)}</ul><p>Bench mode <code>{escape(str(sel['bench'].get('mode')))}</code>, "
            f"file <code>{escape(sel['bench']['file'])}</code>. Figures per row: "
            f"{escape(sel.get('figures_policy', ''))}.</p>" + (f"<ul>{refs}</ul>" if refs else ""))


def _sparsity(m: dict, candidate: dict | None) -> str:
    c = m["candidate"]
    if candidate is None or not candidate.get("measured"):
        return f"<p>{escape(c['id'])}: {escape(c.get('global_sparsity_note') or 'no per-layer data')}.</p>"
    return (f"<p>Global sparsity {c['global_sparsity']:.1%} {_prov('measured')} "
            f"({escape(c['global_sparsity_note'])}). Signal {escape(str(c.get('signal')))}, "
            f"strategy {escape(str(c.get('strategy')))}.</p>"
            f'<img alt="per-layer sparsity of {escape(c["id"])}" src="data:image/png;base64,{sparsity_png(candidate)}">')


def _precision(m: dict) -> str:
    """Precision of the shipped file; for int8 the quantizer, calibration data and agreement with the fp32 twin."""
    f = int8_facts(m)
    if f is None:
        return "<p>fp32: float32 weights, input and output.</p>"
    cal, a = f.calibration, f.agreement
    acc = f"; accuracy there int8 {f.accuracy[0]:.4f} vs fp32 {f.accuracy[1]:.4f}" if f.accuracy else ""
    return (f"<p>int8 ({escape(f.quantizer)}): weights {escape(f.weights)}, activations "
            f"{escape(f.activations)}; {escape(f.io)}.</p>"
            f"<p>Calibration: {cal.get('n')} <b>{escape(str(cal.get('split')))}</b>-split images "
            f"(<code>{escape(str(cal.get('file')))}</code>), never test images.</p>"
            f"<p>Agreement with the fp32 twin <code>{escape(str(a.get('twin')))}</code>{_prov('measured')} on "
            f"{a.get('n')} test images: top-1 {a['top1_agreement']:.1%} (floor {a['floor']:.0%}), "
            f"max logit error {a['max_abs_logit_error']:.3g} of {a['max_abs_fp32_logit']:.3g}{acc}.</p>")


def _pareto(sel: dict) -> str:
    plot = pareto_png(sel)
    left = "; ".join(f"{', '.join(keys)} ({OBJ_LABEL[obj]} panel)" for obj, keys in plot.left_out.items() if keys)
    note = (f" No room to label without overlap: {escape(left)}; every row is in the table below." if left else "")
    return (f'<img alt="accuracy vs latency and vs size for every row" data-labels="{escape(json.dumps(plot.labelled))}" '
            f'src="data:image/png;base64,{plot.png}">'
            f'<p class="sub">Labelled: the choice and the rows on the Pareto front.{note}</p>')


def render_report(m: dict, sel: dict, candidate: dict | None) -> str:
    """The complete HTML page for a bundle's manifest and its selection."""
    heads = "".join(f"<th>{escape(OBJ_LABEL[o])}</th>" for o in OBJ_LABEL)
    notes = "".join(f"<li>{escape(n)}</li>" for n in sel.get("notes", []))
    notes += "".join(f"<li>{escape(s['candidate'])}: not exported or benched, dominated before export by "
                     f"{escape(s['dominated_by'])} ({escape(s['reason'])})</li>"
                     for s in (sel.get("screened") or {}).get("candidates", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgeprune: {escape(m['candidate']['id'])} for {escape(m['target']['name'])}</title><style>{CSS}</style></head>
<body>
<h1>{escape(m['candidate']['id'])} &rarr; {escape(m['target']['name'])} ({escape(m['format'])}, {escape(m.get('precision', 'fp32'))})</h1>
<p class="sub">edgeprune {escape(m['versions']['edgeprune'])}, {escape(m['created'])}. Format: {escape(sel.get('format_policy', ''))}.</p>
{_cards(m)}
<h2>Budgets</h2>
<table><tr><th>budget</th><th>limit</th><th>set by</th><th>this model</th><th>status</th></tr>{_budget_rows(m)}</table>
<h2>Pareto front</h2>
{_pareto(sel)}
<h2>Candidates</h2>
<p>{len(sel['rows'])} rows, {len(sel['front'])} on the Pareto front. Tie-break: {escape(', '.join(sel['tie_break']))}.{_tolerances(sel)}</p>
<table><tr><th>row</th>{heads}<th>status</th><th>why it won or lost</th></tr>{_candidate_rows(sel)}</table>
{f'<ul>{notes}</ul>' if notes else ''}
<h2>Per-layer sparsity of {escape(m['candidate']['id'])}</h2>
{_sparsity(m, candidate)}
<h2>How the figures were obtained</h2>
{_methods(m, sel)}
<p>{_prov('measured')} on the target device, or device-independent (file size, accuracy through the runtime);
{_prov('measured-on-host')} real measurement on the build machine; {_prov('estimated')} scaled, see the method.</p>
<h2>Precision</h2>
{_precision(m)}
<h2>Model file</h2>
<p><code>{escape(m['file'])}</code>, {m['size_bytes']} bytes, sha256 <code>{escape(m['sha256'])}</code>.
Input <code>{escape(m['input']['name'])}</code> {m['input']['shape']} {escape(m['input']['layout'])};
output <code>{escape(m['output']['name'])}</code> {m['output']['shape']}. Every file's sha256 is in manifest.json;
check with <code>edgeprune verify</code>.</p>
</body></html>
"""
