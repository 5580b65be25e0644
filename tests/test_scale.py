"""Scale-out: device selection, Phase 3 on a local Ray cluster (same files as the local
executor, a killed worker retried, a failing candidate not losing the others, kill -9 of
the driver resumed). No GPU here: CUDA/MPS are exercised through selection and fallback."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch

from edgeprune.device import resolve_device
from edgeprune.errors import EdgepruneError
from edgeprune.prune import PruneConfig, run_prune
from edgeprune.prune.executor import CandidatesFailed, RayExecutor, ray_task
from edgeprune.runio import RunDir, read_json

TINY = dict(model="test_resnet", data="digits", dense_epochs=1, finetune_epochs=1, calib_size=64,
            strategies=["conservative", "balanced", "aggressive"])
IDS = ["product-aggressive", "product-balanced", "product-conservative"]


# ---------------------------------------------------------------- device selection
@pytest.mark.parametrize("cuda,mps,want", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, want):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto") == want
    assert resolve_device("cpu") == "cpu"
    if cuda:
        assert resolve_device("cuda") == "cuda"
    if mps:
        assert resolve_device("mps") == "mps"


@pytest.mark.parametrize("name", ["cuda", "mps"])
def test_a_device_asked_for_by_name_that_is_missing_is_an_error_not_a_fallback(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(EdgepruneError, match=f"--device {name} is not usable here.*--device auto or --device cpu"):
        resolve_device(name)
    with pytest.raises(EdgepruneError, match="Unknown device 'tpu'"):
        resolve_device("tpu")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "edgeprune.cli", *args], capture_output=True, text=True)


def _one_line_error(proc) -> str:
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_cli_device_cuda_without_a_gpu_fails_before_any_work(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    msg = _one_line_error(_cli("prune", "--model", "test_resnet", "--device", "cuda", "--out", str(tmp_path / "r")))
    assert "--device cuda is not usable" in msg
    assert not (tmp_path / "r").exists()


def test_cli_ray_address_needs_the_ray_executor(tmp_path):
    msg = _one_line_error(_cli("prune", "--model", "test_resnet", "--ray-address", "auto", "--out", str(tmp_path / "r")))
    assert "--executor ray" in msg
    assert not (tmp_path / "r").exists()


def test_executor_ray_without_ray_installed_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without the extra
    with pytest.raises(EdgepruneError, match=r"needs Ray, which is not installed.*pip install 'edgeprune\[ray\]'"):
        run_prune(PruneConfig(**TINY, executor="ray"), tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("gpus,asked,want", [(2, "auto", ("cuda", {"num_gpus": 1, "num_cpus": 1})),
                                             (2, "cuda", ("cuda", {"num_gpus": 1, "num_cpus": 1})),
                                             (2, "cpu", ("cpu", {"num_cpus": 1})),
                                             (0, "auto", ("cpu", {"num_cpus": 1})),
                                             (0, "mps", ("mps", {"num_cpus": 1}))])
def test_ray_tasks_reserve_a_gpu_when_the_cluster_has_one(gpus, asked, want):
    cluster = SimpleNamespace(cluster_resources=lambda: {"CPU": 8.0, **({"GPU": float(gpus)} if gpus else {})})
    assert RayExecutor().placement(cluster, asked) == want


def test_device_cuda_on_a_cluster_without_gpus_is_an_error():
    cluster = SimpleNamespace(cluster_resources=lambda: {"CPU": 8.0})
    with pytest.raises(EdgepruneError, match="has no GPU"):
        RayExecutor("ray://head:10001").placement(cluster, "cuda")


# ---------------------------------------------------------------- Phase 3 on Ray
@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("scale") / "local"
    res = run_prune(PruneConfig(**TINY), out)
    return out, {c["id"]: c for c in res.candidates}


def _fresh_copy(src, dst):
    """The local run with its dense model and ranges but no candidates: only Phase 3 is left to do."""
    shutil.copytree(src, dst)
    shutil.rmtree(dst / "candidates")
    return dst


def _same_candidates(out, local: dict) -> None:
    rd = RunDir(out)
    assert rd.candidate_ids() == IDS
    for cid in IDS:
        rec = read_json(rd.candidate_json(cid))
        assert rec["sha256"] == local[cid]["sha256"], cid  # same seeds: byte-identical weights
        assert {k: v for k, v in rec.items() if k != "seconds"} == {k: v for k, v in local[cid].items() if k != "seconds"}
    assert not list(rd.candidates_dir.glob(".*.tmp"))


def test_ray_fine_tunes_the_same_candidate_files_as_the_local_executor_in_parallel(ray_cluster, local_run, tmp_path):
    src, local = local_run
    out = _fresh_copy(src, tmp_path / "run")
    spans = tmp_path / "spans"
    spans.mkdir()

    def in_flight_together(job, scores, shared, device):  # the real task, once two candidates have started
        (spans / f"{job.cid}.start").write_text(str(os.getpid()))
        deadline = time.monotonic() + 180
        while len(list(spans.glob("*.start"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        (spans / f"{job.cid}.met").write_text(str(len(list(spans.glob("*.start")))))
        return ray_task(job, scores, shared, device)

    res = run_prune(PruneConfig(**TINY, executor="ray"), out, executor=RayExecutor(task=in_flight_together))
    _same_candidates(out, local)
    # every candidate saw at least two in flight at once: run one at a time, the first would have waited in vain
    assert all(int(f.read_text()) >= 2 for f in spans.glob("*.met")) and len(list(spans.glob("*.met"))) == 3
    assert len({f.read_text() for f in spans.glob("*.start")}) == 2  # two worker processes, one per CPU
    assert [c["id"] for c in res.candidates] == [f"product-{s}" for s in TINY["strategies"]]
    run = read_json(out / "run.json")
    assert run["device"] == {"requested": "auto", "resolved": "cpu", "name": "cpu"}
    assert run["config"]["executor"] == "ray"


def test_a_worker_killed_mid_task_is_retried_and_the_run_completes(ray_cluster, local_run, tmp_path):
    src, local = local_run
    out = _fresh_copy(src, tmp_path / "run")
    marker, victim = tmp_path / "killed-once", "product-balanced"

    def dies_once(job, scores, shared, device):
        if job.cid == victim and not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)  # the worker process dies mid-task, as when it is OOM-killed or its node is lost
        return ray_task(job, scores, shared, device)

    run_prune(PruneConfig(**TINY, executor="ray"), out, executor=RayExecutor(task=dies_once))
    assert marker.exists()  # the first attempt really died
    _same_candidates(out, local)


def test_a_candidate_that_keeps_failing_loses_no_other_candidate(ray_cluster, local_run, tmp_path):
    src, local = local_run
    out = _fresh_copy(src, tmp_path / "run")
    attempts, victim = tmp_path / "attempts", "product-aggressive"
    attempts.mkdir()

    def always_dies(job, scores, shared, device):
        if job.cid == victim:
            (attempts / str(os.getpid())).touch()
            os._exit(1)
        return ray_task(job, scores, shared, device)

    with pytest.raises(CandidatesFailed, match=f"1 of 3 candidates failed on Ray \\({victim}.*2 others are saved"):
        run_prune(PruneConfig(**TINY, executor="ray"), out, executor=RayExecutor(task=always_dies, retries=1))
    assert len(list(attempts.iterdir())) == 2  # bounded: the first attempt and one retry
    rd = RunDir(out)
    assert rd.candidate_ids() == [c for c in IDS if c != victim]
    kept = {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in rd.candidate_ids()}
    run_prune(PruneConfig(**TINY), out)  # re-run: only the failed one is computed
    assert {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in kept} == kept
    _same_candidates(out, local)


@pytest.mark.slow
def test_resume_after_kill_9_of_the_driver(ray_cluster, local_run, tmp_path):
    src, local = local_run
    out = _fresh_copy(src, tmp_path / "run")
    address = ray_cluster.get_runtime_context().gcs_address
    code = ("import sys; from edgeprune.prune import PruneConfig, run_prune; "
            f"run_prune(PruneConfig(**{TINY!r}, executor='ray', ray_address={address!r}), sys.argv[1])")
    driver = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    rd = RunDir(out)
    deadline = time.monotonic() + 300
    while not rd.candidate_ids() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    driver.send_signal(signal.SIGKILL)  # kill -9 the driver as soon as its first candidate is written
    driver.wait()
    finished = rd.candidate_ids()
    assert 0 < len(finished) < len(IDS), finished  # killed mid-run
    kept = {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in finished}
    run_prune(PruneConfig(**TINY, executor="ray"), out)
    assert {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in finished} == kept
    _same_candidates(out, local)


def test_workers_that_cannot_run_this_edgeprune_are_refused_before_any_candidate(ray_cluster, local_run, tmp_path):
    src, _ = local_run
    out = _fresh_copy(src, tmp_path / "run")

    def without_edgeprune():  # what the probe meets on a node where edgeprune is not installed
        raise ModuleNotFoundError("No module named 'edgeprune'")

    with pytest.raises(EdgepruneError, match=r"cannot run edgeprune \(ModuleNotFoundError.*Install edgeprune\[host,ray\]=="):
        run_prune(PruneConfig(**TINY, executor="ray"), out, executor=RayExecutor(probe=without_edgeprune, retries=0))
    with pytest.raises(EdgepruneError, match=r"workers run edgeprune 0.0.1, this driver"):
        run_prune(PruneConfig(**TINY, executor="ray"), out, executor=RayExecutor(probe=lambda: "0.0.1"))
    assert RunDir(out).candidate_ids() == []
