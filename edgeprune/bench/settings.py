"""How long a bench session measures: the one source of the timing defaults.

:class:`BenchSettings` holds the session's settings; :class:`Job` is what one
worker process measures, and its defaults are the same settings (a job run
alone, e.g. by a benchmark script, times like a whole session's rounds).
Stdlib only: the worker on the device reads :class:`Job` too.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class BenchSettings:
    """How long to measure. Defaults: 20 artifacts in 113-125 s on 2 shared cores (host estimate).

    Latency is sampled in rounds over all artifacts (each a fresh process),
    ``target_seconds`` each, and reported as the median of the round medians:
    a burst of load on the machine (or thermal throttling on a device) then
    spoils one round, not the figure. After ``rounds`` rounds, artifacts whose
    figure is not yet stable (see :func:`.rounds.latency_is_stable`) get further
    rounds, up to ``max_rounds``, while they have taken less than
    ``extra_time`` x the time of the first rounds. ``min_runs`` counts over
    the first ``rounds`` rounds; ``max_seconds`` is the time box of one round.
    An artifact dominated after round 1 by one of its kind (at least
    ``settle_margin`` x faster, or the same dense network) gets no later rounds
    (see :mod:`.settle`; 0 turns this off).
    """

    rounds: int = 3
    max_rounds: int = 7
    extra_time: float = 0.25
    agree: int = 3
    stable_within: float = 0.075
    min_runs: int = 20
    target_seconds: float = 0.25
    max_seconds: float = 60.0
    warmup_runs: int = 3
    warmup_seconds: float = 0.1
    pair_blocks: int = 8
    pair_block_seconds: float = 0.04
    timeout_seconds: float = 900.0
    settle_margin: float = 1.5

    def job(self, path: Path, threads: int, layout: str | None = None, eval_npz: Path | None = None,
            partner: "Partner | None" = None) -> Job:
        return Job(path=str(path), threads=threads, layout=layout, eval_npz=str(eval_npz) if eval_npz else None,
                   min_runs=-(-self.min_runs // self.rounds), target_seconds=self.target_seconds,
                   max_seconds=self.max_seconds, warmup_runs=self.warmup_runs, warmup_seconds=self.warmup_seconds,
                   reference=partner.file if partner else None, reference_layout=partner.layout if partner else None,
                   pair_blocks=self.pair_blocks, pair_block_seconds=self.pair_block_seconds)


@dataclass(frozen=True)
class Partner:
    """What an artifact is timed against in alternating blocks off the device."""

    file: str
    layout: str | None = None


# what a job run alone inherits from the session's defaults (its min_runs counts over all of its runs)
_DEFAULT = BenchSettings()


@dataclass
class Job:
    """What to measure and how long to try (all times in seconds)."""

    path: str
    threads: int | None = None
    layout: str | None = None
    eval_npz: str | None = None
    min_runs: int = _DEFAULT.min_runs
    target_seconds: float = _DEFAULT.target_seconds
    max_seconds: float = _DEFAULT.max_seconds
    max_runs: int = 100_000
    warmup_runs: int = _DEFAULT.warmup_runs
    warmup_seconds: float = _DEFAULT.warmup_seconds
    eval_chunk: int = 256
    # off the device: the partner timed in alternating blocks with the artifact (see time_paired): the run's
    # dense artifact of the same format, or the reference model
    reference: str | None = None
    reference_layout: str | None = None
    pair_blocks: int = _DEFAULT.pair_blocks
    pair_block_seconds: float = _DEFAULT.pair_block_seconds

    @classmethod
    def from_json(cls, d: dict) -> "Job":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_json(self) -> dict:
        return asdict(self)
