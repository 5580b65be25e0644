"""Host latency -> target latency, through reference models measured in the same session.

Off the device, contention from other tenants of the host only ever adds
time to a call, and it hits models unequally: a model that streams tens of MB
of weights per call from cache slows by up to 2x within minutes on a shared
VM, while a compute-bound reference moves by a few percent. So:

- The **anchor** of a format (the run's dense artifact) is estimated from
  floors (1st percentiles of call times, :func:`~edgeprune.bench.measure.floor_ms`):
  (its lowest floor over the session / the reference's) x the reference's
  device latency. The anchor is timed in every worker of its format, so its
  lowest floor comes from the quietest moment of the whole session.
- Every other artifact is timed in alternating blocks with the anchor in its
  own worker (:func:`~edgeprune.bench.measure.time_paired`): same
  architecture and working set, so contention cancels in their ratio. Its
  estimate is (artifact / anchor ratio, median over rounds) x the anchor's
  estimate.
- Without an anchor (files benched outside a run, or a failed dense export)
  the artifact is paired with the reference instead, and without a pairing
  the session scale below applies.

For a format, the profile's first calibration is the primary: scale =
(its published device latency x runtime factor) / (its host latency, same
runtime and threads, measured at the start of this session and at its end).
Further calibrations of the format are cross-checks: each implies its own
scale, and their disagreement with the primary widens the error band beyond
the profile's declared one. A band ``b`` means the device value is expected in
[median / (1 + b), median x (1 + b)].

Precision: the host's int8/fp32 speed ratio does not carry over to an ARM
board (published TFLite int8 vs fp16 MobileNetV3-L: 1.3x slower on a Pi 4, 5.2x
on a Pi 5). So int8 artifacts are a *kind* of their own (``tflite.int8``):
where the profile publishes int8 latencies (``precision = "int8"``
calibrations), int8 references are built with edgeprune's own int8 path and the
run's ``dense.int8`` file is that kind's anchor, exactly as above. Where none is
published (e.g. ONNX Runtime int8 on any board), the int8 artifact is timed
against the fp32 anchor (the host's ratio carried over) and the band is widened
by :data:`INT8_TRANSFER` on each side (:func:`precision_fallback`).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from ..precision import ArtifactKey
from ..targets import Calibration, Target

#: factor by which an int8 estimate's band widens when no int8 latency is published for its runtime on the target
INT8_TRANSFER = 2.0


def kind_of(fmt: str, precision: str) -> str:
    """``tflite`` for fp32, ``tflite.int8`` for int8 (the calibrations' :attr:`~edgeprune.targets.Calibration.kind`)."""
    return ArtifactKey("", fmt, precision).kind


def precision_fallback(entry: dict, precision: str, target: Target) -> dict:
    """``entry`` (the fp32 format's) with its band widened for an artifact of another precision."""
    if entry.get("scale") is None:
        return entry
    band = (1 + entry["error_band"]) * INT8_TRANSFER - 1
    fmt = entry.get("host_runtime") or "this runtime"
    why = (f"{entry['band_reason']}, then widened x{INT8_TRANSFER:g} each side: no {precision} latency is published "
           f"for {fmt} on {target.title}, so the host's {precision}/fp32 ratio is carried over, which need not hold "
           f"on the board (published TFLite int8 vs fp16 MobileNetV3-L: 1.3x on a Pi 4, 5.2x on a Pi 5)")
    return dict(entry, error_band=band, band_reason=why, precision_transfer={"precision": precision,
                                                                             "factor": INT8_TRANSFER})


@dataclass
class HostReference:
    """A calibration and its host measurements in this session."""

    calibration: Calibration
    file: str
    results: list[dict] = field(default_factory=list)  # worker results

    @property
    def errors(self) -> list[str]:
        return [r["error"] for r in self.results if r.get("error")]

    @property
    def medians(self) -> list[float]:
        return [r["latency_ms"]["median"] for r in self.results if not r.get("error") and r.get("latency_ms")]

    @property
    def host_ms(self) -> float | None:
        """Median of the session's measurements (one per round, and one at the end)."""
        m = self.medians
        return statistics.median(m) if m else None

    @property
    def floor_ms(self) -> float | None:
        """The lowest floor (1st percentile of call times) of the session's measurements."""
        f = [r["latency_ms"]["floor"] for r in self.results if not r.get("error") and r.get("latency_ms")]
        return min(f) if f else None

    @property
    def drift(self) -> float | None:
        """Spread of the reference's host medians over the session (max / min - 1)."""
        m = self.medians
        return (max(m) / min(m) - 1) if len(m) > 1 else None


def _ratio_error(a: float, b: float) -> float:
    """Symmetric relative disagreement of two positive numbers (0.25 = one is 1.25x the other)."""
    return max(a / b, b / a) - 1


def calibrate(fmt: str, refs: list[HostReference], target: Target, threads_used: int) -> dict:
    """The ``reference`` entry of the bench file for ``fmt`` (scale, band, method)."""
    primary = refs[0]
    cal = primary.calibration
    entry = {
        "model": cal.model, "input_size": cal.input_size, "num_classes": cal.num_classes, "file": primary.file,
        "published_runtime": cal.runtime, "published_threads": cal.threads,
        "published_latency_ms": cal.published_latency_ms, "runtime_factor": cal.runtime_factor,
        "runtime_factor_source": cal.runtime_factor_source or None,
        "device_reference_ms": cal.device_reference_ms, "source": cal.source,
        "host_runtime": primary.results[0].get("runtime") if primary.results else None,
        "host_threads": threads_used, "profile_threads": target.threads(fmt.split(".")[0]),
        "precision": cal.precision,
        "host_latency_ms": primary.host_ms, "host_latency_runs_ms": primary.medians, "drift": primary.drift,
        "host_floor_ms": primary.floor_ms,
        "declared_error_band": cal.error_band,
    }
    if primary.host_ms is None:
        entry.update(scale=None, error_band=None,
                     error=f"reference {cal.model} failed on the host: {'; '.join(primary.errors) or 'no result'}")
        return entry
    scale = cal.device_reference_ms / primary.host_ms
    checks = []
    for ref in refs[1:]:
        c = ref.calibration
        check = {"model": c.model, "input_size": c.input_size, "published_runtime": c.runtime,
                 "device_reference_ms": c.device_reference_ms, "source": c.source, "host_latency_ms": ref.host_ms}
        if ref.host_ms is None:
            check["error"] = "; ".join(ref.errors) or "no result"
        else:
            check["scale"] = c.device_reference_ms / ref.host_ms
            check["disagreement"] = _ratio_error(check["scale"], scale)
        checks.append(check)
    observed = max((c["disagreement"] for c in checks if "disagreement" in c), default=0.0)
    band = max(cal.error_band, observed)
    entry.update(scale=scale, error_band=band, cross_checks=checks, error=None,
                 band_reason=("declared in the profile" if band == cal.error_band else
                              "widened to the largest disagreement between reference models"))
    return entry


def anchor_estimate(file: str, display: str, floors: list[float], entry: dict) -> dict:
    """The anchor's device estimate: (its lowest host floor / the reference's) x the reference's device latency."""
    floor = min(floors)
    ratio = floor / entry["host_floor_ms"]
    return {"artifact": display, "file": file, "host_floor_ms": floor, "floors": len(floors),
            "reference_host_floor_ms": entry["host_floor_ms"], "floor_ratio": ratio,
            "estimate_ms": ratio * entry["device_reference_ms"]}


def is_anchor_file(entry: dict, file: str | None) -> bool:
    """Whether ``file`` is the anchor of the format ``entry`` calibrates."""
    return file is not None and file == (entry.get("anchor") or {}).get("file")


def _partner_ms(host: dict, entry: dict) -> float | None:
    """The device latency (published or estimated) of what the artifact was paired with."""
    anchor = entry.get("anchor") or {}
    known = {entry.get("file"): entry.get("device_reference_ms")}
    if anchor:
        known[anchor["file"]] = anchor["estimate_ms"]
    return known.get(host.get("paired_reference"))


def artifact_scale(host: dict, entry: dict, file: str | None = None) -> float:
    """Host -> target factor for the artifact at ``file``: the anchor's own estimate, its paired ratio x
    its partner's device latency, or else the session scale."""
    if is_anchor_file(entry, file):
        return entry["anchor"]["estimate_ms"] / host["median"]
    partner = _partner_ms(host, entry)
    if host.get("paired_ratio") and partner and host.get("median"):
        return host["paired_ratio"] * partner / host["median"]
    return entry["scale"]


def estimate_latency(host: dict, entry: dict, file: str | None = None) -> dict:
    """Target latency figures from host ones (same keys, plus ``low``/``high``)."""
    s, b = artifact_scale(host, entry, file), entry["error_band"]
    med = host["median"] * s
    return {"median": med, "p90": host["p90"] * s, "min": host["min"] * s, "runs": host["runs"],
            "low": med / (1 + b), "high": med * (1 + b)}


def method_text(entry: dict, target: Target, host: dict | None = None, file: str | None = None) -> str:
    """One line saying how an estimated latency was obtained."""
    factor = (f" x runtime factor {entry['runtime_factor']:g}" if entry["runtime_factor"] != 1 else "")
    ref = (f"{entry['model']}@{entry['input_size']}, {entry['published_latency_ms']:g} ms published "
           f"({entry['published_runtime']}, on {target.title}){factor}")
    tail = (f"; {entry['host_runtime']}, {entry['host_threads']} threads; p90 and min keep the host's spread "
            f"around its median; band [median/{1 + entry['error_band']:.2f}, median*{1 + entry['error_band']:.2f}] "
            f"({entry['band_reason']})")
    anchor = entry.get("anchor")
    anchor_text = anchor and (
        f"{anchor['floor_ratio']:.4g} (lowest host floor of {anchor['artifact']} over {anchor['floors']} timings in "
        f"this session / {entry['model']}@{entry['input_size']}'s; floor = 1st percentile of call times) x {ref}")
    host = host or {}
    if is_anchor_file(entry, file):
        return f"estimated (anchor of this format): {anchor_text}" + tail
    partner = _partner_ms(host, entry)
    if host.get("paired_ratio") and partner:
        rounds = f"timed in alternating blocks in the same process, median over {len(host['paired_ratios'])} rounds"
        if anchor and host.get("paired_reference") == anchor["file"]:
            return (f"estimated: {host['paired_ratio']:.4g} (artifact / {anchor['artifact']}, {rounds}) x "
                    f"{anchor['estimate_ms']:.4g} ms ({anchor['artifact']}'s estimate: {anchor_text})" + tail)
        return f"estimated: {host['paired_ratio']:.4g} (artifact / {entry['model']}@{entry['input_size']}, {rounds}) x {ref}" + tail
    return (f"estimated: host median x {entry['scale']:.4g} = {ref} / {entry['host_latency_ms']:.4g} ms "
            f"(same model on this host, this session)" + tail)
