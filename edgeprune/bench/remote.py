"""Bench on the device through Ray: ``edgeprune bench RUN --target T --executor ray``.

A board joins the user's Ray cluster with a custom resource named after its
target profile, and no CPUs for other work::

    ray start --address HEAD:6379 --num-cpus 0 --resources '{"raspberry-pi-4": 1}'

The whole bench session (rounds, peak RAM, accuracy: :func:`.session.bench_artifacts`)
runs as one Ray task that needs ``{"raspberry-pi-4": 1}``, so it lands on that
board, and only one session runs there at a time. Declaring the resource is the
board's ``--on-device``: the session runs on-device and its rows are
``measured`` (the device detection's evidence is kept in the document, and a
node that does not look like the target says so in its ``detected`` field).
The artifacts and eval set travel as bytes, so the board needs no access to
the run directory; the driver writes ``RUN/bench/<target>.json`` as
``edgeprune bench RUN`` does, with ``executor`` naming the node that measured.
Torch-free, like the rest of the bench.
"""
from __future__ import annotations

import os
import socket
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from ..cluster import connected, one_line
from ..errors import EdgepruneError
from ..records import BenchRecord
from ..runio import RunDir
from ..targets import Target, load_target
from .artifacts import Artifact, run_artifacts
from .session import bench_artifacts, log_stderr
from .settings import BenchSettings
from .store import format_summary, write_bench

RETRIES = 1  # a board that reboots mid-session gets one more try


def _log_to_driver(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)  # Ray forwards a task's stderr to the driver


def bench_on_node(payload: list[tuple[Artifact, bytes | None]], target: Target, eval_npz: bytes | None,
                  eval_name: str | None, settings: BenchSettings | None) -> dict:
    """Body of the Ray task, on the board: write the files to a temp dir, bench them on-device there."""
    with tempfile.TemporaryDirectory(prefix="edgeprune-bench-") as tmp:
        artifacts = []
        for a, data in payload:
            path = Path(tmp) / a.path.name
            if data is not None:
                path.write_bytes(data)
            artifacts.append(replace(a, path=path))
        npz = None
        if eval_npz is not None:
            npz = Path(tmp) / "eval.npz"
            npz.write_bytes(eval_npz)
        doc = bench_artifacts(artifacts, target, True, npz, eval_name, settings, _log_to_driver)
    import ray

    doc["executor"] = {"name": "ray", "resource": target.name, "host": socket.gethostname(),
                       "node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}
    return doc


def bench_run_ray(run: str | os.PathLike, target: str | Target, address: str | None = None,
                  settings: BenchSettings | None = None, echo: bool = True, task=bench_on_node,
                  init_kwargs: dict | None = None) -> Path:
    """Bench ``run``'s artifacts on the Ray node that declares the resource ``target``; write the bench JSON."""
    rd = RunDir(run)
    if not rd.root.is_dir():
        raise EdgepruneError(f"Run directory {rd.root} does not exist.", "Check the RUN path.")
    prof = load_target(target)
    artifacts = run_artifacts(rd)
    if not artifacts:
        raise EdgepruneError(f"{rd.artifacts_dir} holds no exported artifacts (<id>.json).",
                             f"Run 'edgeprune export {run}' first.")
    payload = [(a, None if a.export_error else a.path.read_bytes()) for a in artifacts]
    eval_npz = rd.test_npz.read_bytes() if rd.test_npz.is_file() else None
    with connected(address, **(init_kwargs or {})) as ray:
        if ray.cluster_resources().get(prof.name, 0) < 1:
            raise EdgepruneError(
                f"No node of the Ray cluster declares the resource {prof.name!r}.",
                f"On the board run: ray start --address HEAD:6379 --num-cpus 0 --resources '{{\"{prof.name}\": 1}}'")
        log_stderr(f"bench: {len(artifacts)} artifact(s) sent to the Ray node with resource {prof.name!r}")
        ref = ray.remote(task).options(num_cpus=0, resources={prof.name: 1}, max_retries=RETRIES,
                                       name=f"edgeprune:bench:{prof.name}").remote(
            payload, prof, eval_npz, "data/test.npz" if eval_npz else None, settings)
        try:
            doc = ray.get(ref)
        except ray.exceptions.RayError as e:
            raise EdgepruneError(f"The bench on the {prof.name} node failed: {one_line(e)}.",
                                 "Check the board's Ray logs; it needs 'edgeprune[device,ray]' installed.") from None
        except BaseException:
            ray.cancel(ref, force=True)
            raise
    out = write_bench(rd.bench_json(prof.name), doc)
    if echo:
        print(format_summary(BenchRecord.read(out).to_json()))
        log_stderr(f"wrote {out} in {doc['seconds']:.0f} s on {doc['executor']['host']}")
    return out
