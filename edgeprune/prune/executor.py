"""Phase 3 executors: where candidates are computed (``--executor local|ray``).

Both executors call the same pure function,
:func:`edgeprune.prune.candidate.phase3_candidate` ``(job, scores, shared, device)
-> (record, safetensors bytes)``, and hand each result back to the driver
(:func:`~edgeprune.prune.stage.run_prune`), which alone writes
``RUN/candidates/<id>/`` atomically. So resume, kill -9 safety and cache keys
are the same whatever computed a candidate, and Ray workers need no access to
the run directory: a task reads its inputs (dense weights, data, scores) from
Ray's object store and returns the candidate's bytes (the model's size: 45 MB
for resnet18, 100 MB for resnet50).

Ray tasks reserve ``num_gpus=1`` when the cluster has GPUs (and ``--device`` is
``auto`` or ``cuda``), else :data:`TASK_CPUS` CPUs. A task whose worker or node
dies, or that raises a ``RuntimeError``/``OSError`` (CUDA out of memory, I/O),
is retried up to :data:`RETRIES` times; a candidate that still fails is
reported after every other candidate has finished and been written. Before
the first candidate, one probe task checks that the workers import the same
edgeprune version as the driver (a node without it fails in one line, early).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Protocol

from ..cluster import connected, import_ray, one_line
from ..errors import EdgepruneError
from ..log import info
from ..registry import Registry

RETRIES = 2  # extra attempts per Ray task (worker/node death, RuntimeError, OSError)
TASK_CPUS = 1  # CPUs a CPU-only Ray task reserves (and torch threads it uses)

Status = Callable[[str], None]


@dataclass(frozen=True)
class CandidateJob:
    """One candidate to compute: small, plain, picklable."""

    cid: str
    signal: str
    strategy: str
    plan: dict[str, float]
    merged: list[str]
    key: str


@dataclass
class Shared:
    """Inputs every job of a run shares. ``scores``: signal -> layer -> score tensor."""

    spec: Any  # models.ModelSpec
    dense: bytes  # the dense model's safetensors file
    data: Any  # data.Dataset
    layers: list  # prunable layers.Layer
    cfg: Any  # config.PruneConfig
    scores: dict[str, dict] = field(default_factory=dict)
    calib: list = field(default_factory=list)  # (x, y) CPU batches: iterative schedules re-score each cycle


class CandidatesFailed(EdgepruneError):
    """Some candidates failed after their retries; every other one was written."""


Result = tuple[dict, bytes]


class Executor(Protocol):
    name: str

    def run(self, jobs: list[CandidateJob], shared: Shared, device: str, status: Status) -> Iterator[Result]:
        """Yield (record, weights) per job as each finishes; raise CandidatesFailed at the end if any failed."""


def compute(job: CandidateJob, scores: dict, shared: Shared, device: str, progress: bool = False) -> Result:
    """The one function both executors run (imports the candidate module lazily: Ray pickles this by reference)."""
    from ..device import resolve_device
    from .candidate import phase3_candidate

    return phase3_candidate(job, scores, shared, resolve_device(device), progress=progress)


class LocalExecutor:
    """In this process, one candidate after another (with a per-epoch progress bar)."""

    name = "local"

    def run(self, jobs, shared, device, status):
        for job in jobs:
            status(f"phase 3: {job.cid}")
            yield compute(job, shared.scores[job.signal], shared, device, progress=True)


def ray_task(job: CandidateJob, scores: dict, shared: Shared, device: str) -> Result:
    """Body of a Ray task: the torch threads match the CPUs the task reserved."""
    import torch

    if device == "cpu":
        torch.set_num_threads(TASK_CPUS)
    return compute(job, scores, shared, device)


def probe() -> str:
    """Run on a worker before any candidate: the edgeprune version it imports."""
    from .. import __version__

    return __version__


class RayExecutor:
    """Candidates as Ray tasks on the cluster at ``address`` (None: start a local Ray here)."""

    name = "ray"

    def __init__(self, address: str | None = None, retries: int = RETRIES, task: Callable = ray_task,
                 init_kwargs: dict | None = None, probe: Callable[[], str] = probe):
        self.address, self.retries, self.task, self.probe = address, retries, task, probe
        self.init_kwargs = init_kwargs or {}

    def placement(self, ray, requested: str) -> tuple[str, dict]:
        """(device the tasks use, their resource request) for ``--device requested``."""
        gpus = ray.cluster_resources().get("GPU", 0)
        if requested in ("auto", "cuda") and gpus >= 1:
            return "cuda", {"num_gpus": 1, "num_cpus": 1}
        if requested == "cuda":
            raise EdgepruneError(f"--device cuda: the Ray cluster{' at ' + self.address if self.address else ''} "
                                 "has no GPU.", "Use --device auto or cpu, or start Ray nodes with GPUs.")
        return ("cpu" if requested == "auto" else requested), {"num_cpus": TASK_CPUS}

    def check_workers(self, ray, resources: dict) -> None:
        """One task on a worker of the kind the candidates need: it must import this edgeprune version."""
        from .. import __version__

        try:
            theirs = ray.get(ray.remote(self.probe).options(**resources, max_retries=self.retries).remote())
        except ray.exceptions.RayError as e:
            raise EdgepruneError(f"The Ray workers cannot run edgeprune ({one_line(e)}).",
                                 f"Install edgeprune[host,ray]=={__version__} on every node.") from None
        if theirs != __version__:
            raise EdgepruneError(f"The Ray workers run edgeprune {theirs}, this driver {__version__}.",
                                 f"Install edgeprune[host,ray]=={__version__} on every node.")

    def run(self, jobs, shared, device, status):
        if not jobs:
            return
        with connected(self.address, **self.init_kwargs) as ray:
            yield from self._run(ray, jobs, shared, device, status)

    def _run(self, ray, jobs, shared, device, status):
        pending: dict = {}
        try:
            task_device, resources = self.placement(ray, device)
            self.check_workers(ray, resources)
            remote = ray.remote(self.task)
            opts = dict(resources, max_retries=self.retries, retry_exceptions=[RuntimeError, OSError])
            shared_ref = ray.put(replace(shared, scores={}))
            score_refs = {s: ray.put({k: v.cpu() for k, v in sc.items()}) for s, sc in shared.scores.items()}
            for job in jobs:
                ref = remote.options(**opts, name=f"edgeprune:{job.cid}").remote(job, score_refs[job.signal], shared_ref,
                                                                                 task_device)
                pending[ref] = job
            where = f"{task_device}, {', '.join(f'{k}={v}' for k, v in resources.items())} per task"
            failed: list[tuple[str, str]] = []
            while pending:
                status(f"phase 3 on Ray ({where}): {len(pending)} running or queued")
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    job = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as e:
                        failed.append((job.cid, one_line(e)))
                        info(f"phase 3: {job.cid} failed after {self.retries + 1} attempts: {failed[-1][1]}")
                        continue
                    yield result
            status(f"phase 3 on Ray ({where})")
            if failed:
                raise CandidatesFailed(
                    f"{len(failed)} of {len(jobs)} candidates failed on Ray ({failed[0][0]}: {failed[0][1]}); "
                    f"the {len(jobs) - len(failed)} others are saved.",
                    "Re-run the same command to retry only the failed ones.")
        finally:
            for ref in pending:  # closed early (error, Ctrl-C): don't leave work running on a shared cluster
                ray.cancel(ref, force=True)


EXECUTORS: Registry[Callable[[Any], Executor]] = Registry("executor")
EXECUTORS.add("local", lambda cfg: LocalExecutor())
EXECUTORS.add("ray", lambda cfg: RayExecutor(cfg.ray_address))


def check_executor(cfg) -> None:
    """Fail before any work on an unknown executor, a missing Ray, or --ray-address without Ray."""
    EXECUTORS.check([cfg.executor])
    if cfg.ray_address and cfg.executor != "ray":
        raise EdgepruneError("--ray-address is only used with --executor ray.", "Add --executor ray, or drop --ray-address.")
    if cfg.executor == "ray":
        import_ray()


def make_executor(cfg) -> Executor:
    return EXECUTORS.get(cfg.executor)(cfg)
