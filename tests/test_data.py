"""Data loaders on data the tests make: digits, image folders, CIFAR python batches."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from edgeprune.data import load_dataset
from edgeprune.errors import EdgepruneError


def test_digits_split_is_fixed_stratified_and_disjoint():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert np.array_equal(a.y_test, b.y_test)  # fixed split seed: no run seed reaches the loaders
    assert a.x_train.shape[1:] == (3, 32, 32) and a.x_train.dtype == np.float32
    n = len(a.y_train) + len(a.y_val) + len(a.y_test)
    assert n == 1797
    for y in (a.y_train, a.y_val, a.y_test):
        assert len(np.unique(y)) == 10
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0


def _write_pngs(root, classes, per_class, size=12):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i, c in enumerate(classes):
        (root / c).mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            arr = np.full((size, size, 3), 40 * i, np.uint8) + rng.integers(0, 30, (size, size, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{j}.png")


def test_image_folder_without_splits(tmp_path):
    _write_pngs(tmp_path, ["cat", "dog", "eel"], 10)
    d = load_dataset(str(tmp_path), input_size=16)
    assert d.labels == ["cat", "dog", "eel"]
    assert d.x_train.shape[1:] == (3, 16, 16)
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 30
    assert len(d.y_test) > 0 and len(d.y_val) > 0


def test_image_folder_with_train_val_test(tmp_path):
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        _write_pngs(tmp_path / split, ["a", "b"], n)
    d = load_dataset(str(tmp_path), input_size=8)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (12, 4, 6)
    assert d.info()["splits"] == {"train": 12, "val": 4, "test": 6}


def test_unreadable_image_is_a_clear_error(tmp_path):
    _write_pngs(tmp_path, ["a", "b"], 8)
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(EdgepruneError, match="broken.png"):
        load_dataset(str(tmp_path), input_size=8)


def _cifar10(root, n=20):
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(1, 3):
        with open(root / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}, f)
    with open(root / "test_batch", "wb") as f:
        pickle.dump({b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), b"labels": list(range(10)) * (n // 10)}, f)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)


def test_cifar10_python_format(tmp_path):
    _cifar10(tmp_path / "c10")
    d = load_dataset(str(tmp_path / "c10"))
    assert d.name == "cifar10" and d.labels[3] == "c3"
    assert d.x_test.shape == (20, 3, 32, 32) and len(d.y_train) + len(d.y_val) == 40


def test_cifar100_python_format(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "c100"
    root.mkdir()
    for name, n in (("train", 200), ("test", 100)):
        with open(root / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), b"fine_labels": list(range(100)) * (n // 100)}, f)
    with open(root / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"f{i}".encode() for i in range(100)]}, f)
    d = load_dataset(str(root))
    assert d.name == "cifar100" and d.num_classes == 100 and len(d.y_test) == 100


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/edgeprune_pwned",))


def test_cifar_batch_with_code_is_refused(tmp_path):
    _cifar10(tmp_path / "c10")
    with open(tmp_path / "c10" / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Evil()}, f)
    with pytest.raises(EdgepruneError, match="not a valid CIFAR"):
        load_dataset(str(tmp_path / "c10"))
    import os

    assert not os.path.exists("/tmp/edgeprune_pwned")


def test_unknown_data_is_a_clear_error(tmp_path):
    with pytest.raises(EdgepruneError, match="no such directory"):
        load_dataset(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgepruneError, match="not a recognised"):
        load_dataset(str(tmp_path / "empty"))
