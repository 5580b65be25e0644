"""The registry helper and every registry built on it: unknown names are one-line errors with close matches."""
from __future__ import annotations

import subprocess
import sys

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.registry import Registry


def test_registry_order_lookup_and_errors():
    reg: Registry[int] = Registry("colour")
    reg.add("red", 1)

    @reg.register("green", "verde")
    def green():
        return 2

    @reg.register()
    def blue():
        return 3

    assert list(reg) == reg.names() == ["red", "green", "verde", "blue"] and len(reg) == 4
    assert reg.get("red") == reg["red"] == 1 and reg.get("verde") is green and reg.get("blue") is blue
    assert "red" in reg and "pink" not in reg and 3 not in reg
    with pytest.raises(ValueError, match="already registered"):
        reg.add("red", 9)  # a second entry under one name is a bug, never silently replaced
    with pytest.raises(EdgepruneError) as e:
        reg["gren"]
    assert str(e.value) == "Unknown colour 'gren'. Did you mean 'green'? Known: red, green, verde, blue."
    with pytest.raises(EdgepruneError) as e:
        reg.check(["red", "xyz", "blu"])
    assert str(e.value).startswith("Unknown colour 'xyz', 'blu'. Did you mean 'blue'? Known:")
    with pytest.raises(EdgepruneError) as e:
        reg.get("zzzzzz")
    assert "Did you mean" not in str(e.value) and "Known: red, green, verde, blue." in str(e.value)
    reg.check(["red", "blue"])  # all known: no error


def _registries():
    from edgeprune.bench.reference import EXPORTERS
    from edgeprune.data import DATASETS, list_datasets
    from edgeprune.export.formats import FORMATS
    from edgeprune.export.sparse_onnx import ENCODINGS
    from edgeprune.prune.executor import EXECUTORS
    from edgeprune.prune.importance import IMPORTANCE
    from edgeprune.prune.strategies import STRATEGIES
    from edgeprune.prune.structured.scores import CRITERIA
    from edgeprune.runtimes import RUNTIMES

    list_datasets()  # imports the loader modules, which register themselves
    # registry, a typo, what it must suggest, the kind named in the message
    return [(IMPORTANCE, "prodct", "product", "importance criterion"), (STRATEGIES, "balancd", "balanced", "strategy"),
            (DATASETS, "digit", "digits", "dataset"), (FORMATS, "tflit", "tflite", "export format"),
            (RUNTIMES, ".onx", ".onnx", "artifact type"), (ENCODINGS, "delta6", "delta16", "encoding"),
            (EXPORTERS, "onnxx", "onnx", "reference format"), (CRITERIA, "gradiant", "gradient", "group criterion"),
            (EXECUTORS, "rey", "ray", "executor")]


def test_every_registry_names_close_matches_for_an_unknown_name():
    regs = _registries()
    for reg, typo, close, kind in regs:
        assert close in reg and typo not in reg
        with pytest.raises(EdgepruneError) as e:
            reg.get(typo)
        msg = str(e.value)
        assert msg.startswith(f"Unknown {kind} {typo!r}.") and f"'{close}'" in msg.split("Known:")[0], msg
        assert "\n" not in msg and all(n in msg.split("Known:")[1] for n in reg)


def test_registries_hold_what_the_stages_expect():
    from edgeprune.data import list_datasets
    from edgeprune.export import get_format
    from edgeprune.prune.strategies import STRATEGIES

    assert list_datasets() == ["cifar", "digits", "folder"]  # detection order: the first match wins
    assert len(STRATEGIES) == 10
    assert [get_format(f).suffix for f in ("onnx", "tflite")] == [".onnx", ".tflite"]


def test_lookups_by_name_raise_edgeprune_errors_not_key_errors():
    from edgeprune.prune import importance
    from edgeprune.prune.executor import check_executor
    from edgeprune.prune.strategies import make_plans
    from edgeprune.runtimes import import_runtime, open_runner

    for call, text in ((lambda: importance.score("snp", None, [], []), "Did you mean 'snip'?"),
                       (lambda: make_plans([], ["balancd"]), "Did you mean 'balanced'?"),
                       (lambda: check_executor(type("Cfg", (), {"executor": "lokal", "ray_address": None})()),
                        "Did you mean 'local'?"),
                       (lambda: open_runner("m.tflit"), "m.tflit: Unknown artifact type '.tflit'."),
                       (lambda: import_runtime("m.onnxx"), "Did you mean '.onnx'?")):
        with pytest.raises(EdgepruneError, match=text.replace(".", r"\.").replace("?", r"\?")):
            call()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeprune", *args], capture_output=True, text=True)


def test_cli_unknown_names_are_one_line_and_fail_before_any_work(tmp_path):
    out = tmp_path / "r"
    proc = _cli("prune", "--model", "test_resnet", "--strategies", "balanced,balancd", "--out", str(out))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: Unknown strategy 'balancd'. Did you mean 'balanced'?") and not out.exists()
    proc = _cli("export", "--model", "test_resnet", "--checkpoint", str(tmp_path / "ck.safetensors"), "--input-shape",
                "1,3,8,8", "--out", str(out), "--formats", "onnx,tflte")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: Unknown export format 'tflte'. Did you mean 'tflite'?") and not out.exists()
