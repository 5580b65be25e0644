"""Round statistics: when an artifact's rounds agree, and one latency figure from all of them.

Latency is sampled in rounds, each a fresh worker (see :class:`~.settings.BenchSettings`);
off the device a round's figure is its ratio to the partner model, on the device its median.
"""
from __future__ import annotations

import statistics

from .artifacts import Artifact
from .settings import BenchSettings


def latency_is_stable(round_medians: list[float], agree: int, within: float) -> bool:
    """True when at least ``agree`` rounds, and more than half of them, lie within ``within`` of the median.

    Off the device the rounds' figure is the ratio to the partner (the
    quantity the estimate scales), on the device the round median.

    Round medians of a sub-millisecond model on a shared machine swing by 2x
    when a burst of load covers a round; a median backed by a majority of
    agreeing rounds is more likely to repeat in the next session, though load
    that lasts longer than a whole session still moves it.
    """
    if not round_medians:
        return False
    med = statistics.median(round_medians)
    close = sum(abs(m - med) <= within * med for m in round_medians)
    return close >= agree and 2 * close > len(round_medians)


def rounds_todo(rnd: int, round_medians: list[list[float]], settings: BenchSettings) -> list[int]:
    """Indices of the artifacts to time in round ``rnd`` (0-based): all measurable ones in the first
    ``settings.rounds`` rounds, then only those whose latency is not yet stable."""
    live = [i for i, m in enumerate(round_medians) if m]
    if rnd < settings.rounds:
        return live
    if rnd >= settings.max_rounds:
        return []
    return [i for i in live if not latency_is_stable(round_medians[i], settings.agree, settings.stable_within)]


def combine_rounds(stats: list[dict]) -> dict:
    """One latency figure from per-round ones: medians of the round medians and p90s, overall min."""
    runs = sum(s["runs"] for s in stats)
    return {"median": statistics.median(s["median"] for s in stats),
            "p90": statistics.median(s["p90"] for s in stats), "min": min(s["min"] for s in stats),
            "mean": sum(s["mean"] * s["runs"] for s in stats) / runs, "runs": runs,
            "seconds": sum(s["seconds"] for s in stats), "round_medians": [s["median"] for s in stats]}


def _round_figure(res: dict) -> float | None:
    """What a round contributes to the reported latency: the ratio to the partner off the device, else the median."""
    if not res.get("latency_ms"):
        return None
    return res["paired"]["ratio"] if res.get("paired") else res["latency_ms"]["median"]


def round_figures(first: dict, later: list[dict]) -> list[float]:
    """The figures of an artifact's rounds so far (empty if it cannot be timed)."""
    return [f for f in map(_round_figure, [first, *later]) if f is not None]


def latency_rounds(first: dict, later: list[dict], settings: BenchSettings, settled: str | None = None) -> dict:
    """Round 1's result (RAM, accuracy) with latency and load time combined over all rounds; ``settled``: why
    it got no later rounds (see :mod:`.settle`)."""
    ok = [first] + [r for r in later if not r.get("error") and r.get("latency_ms")]
    lat = combine_rounds([r["latency_ms"] for r in ok])
    figures = lat["round_medians"]
    paired = [r["paired"] for r in ok if r.get("paired")]
    if paired and len(paired) == len(ok):
        figures = [q["ratio"] for q in paired]
        lat["paired_ratio"] = statistics.median(figures)
        lat["paired_ratios"] = figures
        lat["paired_reference"] = paired[0]["reference"]
    lat["stable"] = latency_is_stable(figures, settings.agree, settings.stable_within)
    lat["agree_within"] = settings.stable_within
    if settled:
        lat["settled"] = settled
    out = dict(first, latency_ms=lat, load_ms=statistics.median(r["load_ms"] for r in ok))
    out["peak_ram_rounds_mb"] = [r["peak_ram_mb"] for r in ok if r.get("peak_ram_mb") is not None]
    failed = [r["error"] for r in later if r.get("error")]
    if failed:
        out["round_errors"] = failed
    return out


def anchor_floors(anchor: Artifact, measured: list[tuple[Artifact, dict]], later: list[list[dict]]) -> list[float]:
    """Every floor of the anchor seen in the session: its own rounds and its blocks in the other workers."""
    path = str(anchor.path)
    out = []
    for (a, first), rest in zip(measured, later):
        for res in [first, *rest]:
            if res.get("error"):
                continue
            if a is anchor and res.get("latency_ms"):
                out.append(res["latency_ms"]["floor"])
            elif (res.get("paired") or {}).get("reference") == path:
                out.append(res["paired"]["reference_floor_ms"])
    return out
