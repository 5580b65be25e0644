"""bench --executor ray: a local two-node Ray cluster whose second node declares the
resource ``raspberry-pi-4`` stands in for a board that joined the user's cluster."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import make_fake_run
from edgeprune.errors import EdgepruneError
from edgeprune.runio import RunDir, read_json
from test_bench import FAST, export_artifacts

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def two_nodes():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    board = cluster.add_node(num_cpus=0, resources={"raspberry-pi-4": 1})
    cluster.wait_for_nodes()
    cluster.connect()
    yield cluster, board
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def onnx_run(tmp_path_factory):
    root = make_fake_run(tmp_path_factory.mktemp("bench_ray") / "run", sparsities=(0.9,))
    return export_artifacts(root, formats=("onnx",))


def test_bench_jobs_go_to_the_node_that_declares_the_target(two_nodes, onnx_run):
    from edgeprune.bench.remote import bench_run_ray

    cluster, board = two_nodes
    out = bench_run_ray(onnx_run, "raspberry-pi-4", settings=FAST, echo=False)
    assert out == RunDir(onnx_run).bench_json("raspberry-pi-4")
    doc = read_json(out)
    assert doc["executor"]["node_id"] == board.node_id != cluster.head_node.node_id
    assert doc["mode"] == "on-device" and doc["detected"]["on_target"] is False  # an x86 VM, said so
    assert {(r["candidate"], r["format"]) for r in doc["rows"]} == {("dense", "onnx"), ("magnitude-fake-90", "onnx")}
    for r in doc["rows"]:
        assert r["error"] is None and r["latency_ms"]["runs"] >= 20 and r["accuracy"] is not None
        assert set(r["provenance"].values()) == {"measured"}
        assert r["path"] == f"artifacts/{r['candidate']}.onnx"  # named as in the run, not the board's temp dir


def test_no_node_with_the_resource_is_a_one_line_error(two_nodes, onnx_run):
    from edgeprune.bench.remote import bench_run_ray

    with pytest.raises(EdgepruneError, match="No node of the Ray cluster declares the resource 'jetson-nano'.*ray start"):
        bench_run_ray(onnx_run, "jetson-nano", settings=FAST, echo=False)
    assert not RunDir(onnx_run).bench_json("jetson-nano").exists()


def test_cli_ray_options_need_a_run_and_a_target(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edgeprune.cli", "bench", str(tmp_path), "--ray-address", "auto",
                           "--target", "raspberry-pi-4"], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith("error: --ray-address is only")
