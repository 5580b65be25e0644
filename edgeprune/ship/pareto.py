"""report.html's Pareto figure: accuracy vs latency and vs size, budget lines, the choice starred."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from .labels import label_boxes, place_labels

OBJ_LABEL = {"accuracy": "accuracy", "size_mb": "size (MB)", "latency_ms": "latency (ms)", "peak_ram_mb": "peak RAM (MB)"}
BUDGET_OF = {"latency_ms": "max_latency_ms", "size_mb": "max_size_mb"}
PANELS = ("latency_ms", "size_mb")  # x axes of the Pareto plot (y: accuracy)
MARKERS = {"structured": "s", "dense": "D"}  # granularity -> marker; unstructured (and unknown) rows are circles
MARKER_NAMES = {"s": "squares", "D": "diamond", "o": "circles"}
COLORS = {"chosen": "#d62728", "front": "#2ca02c", "feasible": "#1f77b4", "infeasible": "#9e9e9e",
          "excluded": "#cfcfcf", "budget": "#d62728"}


def png_base64(fig) -> str:
    """``fig`` as a base64 PNG at 100 dpi (what report.html embeds)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _category(r: dict) -> str:
    if r["chosen"]:
        return "chosen"
    if not r["eligible"]:
        return "excluded"
    if not r["feasible"]:
        return "infeasible"
    return "front" if r["pareto"] else "feasible"


def _axis_note(rows: list[dict], obj: str) -> str:
    provs = sorted({r["provenance"].get(obj, "unknown") for r in rows})
    return provs[0] if len(provs) == 1 else "filled: measured on device, hollow: " + "/".join(
        p for p in provs if p != "measured")


@dataclass
class ParetoPlot:
    """The plot and its point labels per panel: only the choice and the front, never overlapping."""

    png: str  # base64
    labelled: dict[str, list[str]]  # panel objective -> keys labelled on it
    left_out: dict[str, list[str]]  # front rows with no room for a label on that panel


def _to_label(rows: list[dict]) -> list[dict]:
    """The choice first, then the front rows by accuracy (the order in which they get room)."""
    return sorted((r for r in rows if r["pareto"] or r["chosen"]), key=lambda r: (not r["chosen"], -r["accuracy"], r["key"]))


def pareto_figure(sel: dict):
    """Accuracy vs latency and vs size, budget lines, the choice starred; returns ``(figure, left_out)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    rows = [r for r in sel["rows"] if all(r.get(o) is not None for o in OBJ_LABEL) and r["error"] is None]
    grains = sorted({r.get("granularity") or "unstructured" for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    lim_acc = sel["budgets"]["min_accuracy"]["limit"]
    for ax, obj in zip(axes, PANELS):
        for cat in ("excluded", "infeasible", "feasible", "front", "chosen"):
            pts = [r for r in rows if _category(r) == cat]
            for measured in (True, False):
                sub = [r for r in pts if (r["provenance"].get(obj) == "measured") == measured]
                if not sub:
                    continue
                for grain in (grains if cat != "excluded" else [None]):  # excluded rows: one "x" whatever their kind
                    part = [r for r in sub if grain is None or (r.get("granularity") or "unstructured") == grain]
                    if not part:
                        continue
                    marker = MARKERS.get(grain, "o")
                    style = ({"marker": "x", "c": COLORS[cat]} if cat == "excluded" else
                             {"marker": "*" if cat == "chosen" else marker, "edgecolors": COLORS[cat],
                              "facecolors": COLORS[cat] if measured else "none"})
                    ax.scatter([r[obj] for r in part], [r["accuracy"] for r in part], **style,
                               s=260 if cat == "chosen" else 46, zorder=3 + (cat == "chosen"), linewidths=1.5,
                               label=f"{cat}{'' if measured or cat == 'excluded' else ' (not device-measured)'}"
                                     + (f", {grain}" if len(grains) > 1 and cat not in ("chosen", "excluded") else ""))
        front = [r for r in rows if r["pareto"]]
        if front:
            ax.scatter([r[obj] for r in front], [r["accuracy"] for r in front], marker="o", s=170,
                       facecolors="none", edgecolors="black", linewidths=0.8, zorder=2, label="on the Pareto front")
        budget = sel["budgets"][BUDGET_OF[obj]]
        if budget["limit"] is not None:
            ax.axvline(budget["limit"], color=COLORS["budget"], ls="--", lw=1,
                       label=f"{BUDGET_OF[obj]} {budget['limit']:g} ({budget['source']})")
        if lim_acc:  # a zero accuracy floor constrains nothing; drawing it would only squash the plot
            ax.axhline(lim_acc, color=COLORS["budget"], ls=":", lw=1,
                       label=f"min_accuracy {lim_acc:g} ({sel['budgets']['min_accuracy']['source']})")
        xs = [r[obj] for r in rows if r[obj] > 0] + ([budget["limit"]] if budget["limit"] else [])
        if xs and max(xs) / min(xs) > 20:
            ax.set_xscale("log")
            plain = FuncFormatter(lambda v, _: f"{v:g}")  # 2, 5, 10, 20, ... not 2x10^0 over 3x10^0
            ax.xaxis.set_major_formatter(plain)
            ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
            ax.xaxis.set_minor_formatter(plain)
        ax.set_xlabel(f"{OBJ_LABEL[obj]} [{_axis_note(rows, obj)}]")
        ax.set_ylabel(f"accuracy [{_axis_note(rows, 'accuracy')}]")
        ax.grid(alpha=0.3)
        ax.margins(x=0.08, y=0.15)  # room for labels around points at the edges
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, framealpha=0.85)  # off the points
    marks = "; ".join(f"{MARKER_NAMES[MARKERS.get(g, 'o')]}: {g}" for g in grains)
    fig.suptitle(f"{sel['target']}: Pareto front over accuracy, latency, size and peak RAM ({sel['format']} rows compete)"
                 + (f"\n{marks}" if len(grains) > 1 else ""), fontsize=11)
    left_out = {obj: place_labels(ax, [(r["key"], r[obj], r["accuracy"]) for r in _to_label(rows)],
                                  markers=[(r[obj], r["accuracy"]) for r in rows])
                for ax, obj in zip(axes, PANELS)}
    return fig, left_out


def pareto_png(sel: dict) -> ParetoPlot:
    """:func:`pareto_figure` as a base64 PNG, with the labels of each panel."""
    import matplotlib.pyplot as plt

    fig, left_out = pareto_figure(sel)
    out = png_base64(fig)
    labelled = {obj: list(label_boxes(ax)) for ax, obj in zip(fig.axes, PANELS)}
    plt.close(fig)
    return ParetoPlot(out, labelled, left_out)
