"""``edgeprune targets`` and ``edgeprune targets show NAME``: profiles as text."""
from __future__ import annotations

from .schema import Hardware, Target


def _ram(h: Hardware) -> str:
    return "/".join(f"{g:g}" for g in h.ram_gb) + " GB"


def format_table(targets: list[Target]) -> str:
    """``edgeprune targets``: one line per profile."""
    head = ("name", "device", "CPU", "RAM", "accelerator", "ships", "threads", "latency reference")
    rows = [head]
    for t in targets:
        h = t.hardware
        cal = t.calibrations(t.preferred_format)
        ref = f"{cal[0].model} {cal[0].published_latency_ms:g} ms" if cal else "-"
        rows.append((t.name, t.title, f"{h.cpu_cores}x {h.cpu} {h.cpu_clock_ghz:g} GHz", _ram(h),
                     h.accelerator, t.preferred_format, str(t.threads(t.preferred_format)), ref))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def format_target(t: Target) -> str:
    """``edgeprune targets show NAME``: the whole profile, readable."""
    h, b = t.hardware, t.budgets
    lines = [f"{t.name}: {t.title}", f"  file: {t.path}"]
    if t.description:
        lines.append(f"  {t.description}")
    lines += [
        "hardware:",
        f"  CPU: {h.cpu_cores}x {h.cpu} {h.cpu_clock_ghz:g} GHz ({h.cpu_arch})" + (f"; {h.notes}" if h.notes else ""),
        f"  accelerator: {h.accelerator}",
        f"  RAM: {_ram(h)}" + (f", ~{h.ram_bandwidth_gbs:g} GB/s" if h.ram_bandwidth_gbs else ""),
        f"  storage: {h.storage}",
        f"  source: {h.source}",
    ]
    if t.software:
        s = t.software
        lines += ["software:", f"  OS: {s.os}, Python {s.python}",
                  f"  onnxruntime: {s.onnxruntime}; ai-edge-litert: {s.ai_edge_litert}; tflite-runtime: {s.tflite_runtime}",
                  f"  GPU stack: {s.gpu_stack}", f"  source: {s.source}"]
    lines.append(f"runtimes (preferred ship format: {t.preferred_format}):")
    for fmt, rc in t.runtimes.items():
        lines.append(f"  {fmt}: {rc.runtime}, {rc.threads} threads" + (f"  ({rc.notes})" if rc.notes else ""))
    lines += ["budgets (defaults; override with edgeprune select --max-...):",
              f"  max size {b.max_size_mb:g} MB, max peak RAM {b.max_ram_mb:g} MB, "
              f"max latency {b.max_latency_ms:g} ms, min accuracy {b.min_accuracy:g}",
              f"  source: {b.source}", "latency calibration:"]
    if not t.calibration:
        lines.append("  none: latency is not estimated off the device")
    for i, c in enumerate(t.calibration):
        role = "primary" if t.calibrations(c.kind)[0] is c else "cross-check"
        lines.append(f"  {c.kind} ({role}, +-{c.error_band:.0%}): {c.describe()}")
        lines.append(f"    source: {c.source}")
        if c.runtime_factor_source:
            lines.append(f"    runtime factor: {c.runtime_factor_source}")
        if c.notes:
            lines.append(f"    note: {c.notes}")
    if t.detect:
        lines.append("detected on: /proc/device-tree/model containing " + " or ".join(repr(m) for m in t.detect.model))
    return "\n".join(lines)
