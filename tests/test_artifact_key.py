"""One typed artifact identity (issue 13): file names, row keys, run paths and latency kinds agree."""
from __future__ import annotations

import pytest

from edgeprune.bench.artifacts import artifact_from_file
from edgeprune.bench.estimate import kind_of
from edgeprune.precision import ArtifactKey, artifact_name
from edgeprune.rundir import RunDir
from edgeprune.select.core import Row


@pytest.mark.parametrize("key, name, kind", [
    (ArtifactKey("dense", "onnx"), "dense.onnx", "onnx"),
    (ArtifactKey("product-interp-0.7", "tflite", "int8"), "product-interp-0.7.int8.tflite", "tflite.int8"),
    (ArtifactKey("structured-product-balanced", "onnx", "int8"), "structured-product-balanced.int8.onnx", "onnx.int8"),
])
def test_every_stage_spells_the_key_the_same_way(tmp_path, key, name, kind):
    assert key.name == str(key) == name and key.kind == kind
    assert ArtifactKey.from_name(name) == key  # a file name reads back as its key (ids may hold dots)
    assert artifact_name(key.candidate, key.format, key.precision) == name
    assert Row(key.candidate, key.format, precision=key.precision).key == name  # the selector's row key
    assert kind_of(key.format, key.precision) == kind
    path = RunDir(tmp_path).artifact(key.candidate, key.format, key.precision)
    assert path.name == name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    a = artifact_from_file(path)  # bench reads a loose file's identity from its name
    assert (a.candidate, a.format, a.precision, a.kind) == (key.candidate, key.format, key.precision, kind)
