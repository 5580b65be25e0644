"""Target profiles: the built-in ones are complete and consistent; malformed ones fail precisely."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.targets import (BUILTIN_DIR, FORMATS, builtin_paths, format_table, format_target, list_targets,
                               load_target)

REPO = Path(__file__).resolve().parents[1]
REQUIRED = {"raspberry-pi-3b-plus", "raspberry-pi-zero-2w", "raspberry-pi-4", "raspberry-pi-5", "jetson-nano",
            "jetson-xavier-nx", "jetson-orin-nano"}


def test_all_required_profiles_exist_and_validate():
    targets = {t.name: t for t in list_targets()}
    assert REQUIRED <= set(targets)
    for name, t in targets.items():
        assert t.path.stem == name, "a profile's name must be its file name"


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_profile_is_internally_consistent(name):
    t = load_target(name)
    h, b = t.hardware, t.budgets
    assert t.preferred_format in t.runtimes
    assert t.preferred_format == ("onnx" if t.family == "jetson" else "tflite")
    assert all(rc.threads <= h.cpu_cores for rc in t.runtimes.values())
    # Budgets are derived by the rule their source states; a change to one number must follow it.
    assert b.source.startswith("derived:")
    assert b.max_ram_mb <= h.min_ram_mb / 2 and b.max_size_mb == b.max_ram_mb / 2
    primary = t.calibrations(t.preferred_format)
    if primary:
        assert b.max_latency_ms == primary[0].published_latency_ms
    # Every figure says where it comes from.
    assert "targets.md" in h.source and (t.software is None or "targets.md" in t.software.source)
    for c in t.calibration:
        assert "targets.md" in c.source
        assert c.runtime_factor == 1.0 or c.runtime_factor_source.startswith("derived:")
    assert t.detect and t.detect.model


def test_pi_profiles_calibrate_every_format_and_jetsons_only_onnx():
    for t in list_targets():
        if t.family == "raspberry-pi":
            assert all(t.calibrations(f) for f in FORMATS)
            assert t.calibrations("tflite")[0].model == "resnet18"
        elif t.family == "jetson":
            assert t.calibrations("onnx") and not t.calibrations("tflite")
            assert t.runtimes["onnx"].runtime == "tensorrt"
    assert "tflite" not in load_target("jetson-nano").runtimes  # no LiteRT/tflite-runtime on JetPack 4.6
    assert load_target("raspberry-pi-zero-2w").budgets.max_ram_mb <= 128  # 512 MB board


def test_builtin_dir_is_the_top_level_targets_dir():
    assert sorted(p.name for p in BUILTIN_DIR.glob("*.toml")) == sorted(p.name for p in (REPO / "targets").glob("*.toml"))
    for p in (REPO / "targets").glob("*.toml"):
        assert (BUILTIN_DIR / p.name).read_bytes() == p.read_bytes()


def test_wheel_ships_the_profiles():
    """pyproject's package-data must include the profiles under edgeprune/_targets."""
    import fnmatch
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["edgeprune"]
    rel = [str(p.relative_to(REPO / "edgeprune")) for p in builtin_paths().values()]
    assert rel and all(any(fnmatch.fnmatch(r, g) for g in data) for r in rel), f"package-data {data} misses {rel}"


# ---------------------------------------------------------------- malformed profiles
BASE = REPO / "targets" / "raspberry-pi-4.toml"


def _mutated(tmp_path: Path, old: str, new: str) -> Path:
    text = BASE.read_text()
    assert old in text, old
    p = tmp_path / "my-board.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize("old,new,field,expected", [
    ("cpu_cores = 4\n", "", "hardware.cpu_cores", "an integer, it is missing"),
    ("cpu_cores = 4", 'cpu_cores = "four"', "hardware.cpu_cores", "an integer, got 'four'"),
    ("max_ram_mb = 256", "max_ram_mb = -1", "budgets.max_ram_mb", "a number > 0"),
    ("min_accuracy = 0.0", "min_accuracy = 95", "budgets.min_accuracy", "a fraction in [0, 1]"),
    ('preferred_format = "tflite"', 'preferred_format = "pt"', "preferred_format", "one of onnx, tflite"),
    ('runtime = "onnxruntime"', 'runtime = "onnx-runtime"', "runtimes.onnx.runtime", "one of onnxruntime"),
    ("max_latency_ms = 255", "max_latency_ms = 255\nmax_latncy_ms = 1", "budgets.max_latncy_ms",
     "did you mean 'max_latency_ms'"),
    ("error_band = 0.4", "error_band = 40", "calibration[0].error_band", "a relative error band in (0, 1)"),
    ("[runtimes.onnx]", "[runtimes.pt]", "runtimes.pt", "a table named one of onnx, tflite"),
    ("threads = 4", "threads = 8", "runtimes.tflite.threads", "at most hardware.cpu_cores (4)"),
    ("max_ram_mb = 256", "max_ram_mb = 4096", "budgets.max_ram_mb", "at most the smallest RAM variant"),
    ("ram_gb = [1, 2, 4, 8]", "ram_gb = []", "hardware.ram_gb", "a non-empty list"),
    ("schema = 1", "schema = 2", "schema", "1 (the schema this edgeprune reads)"),
])
def test_malformed_profile_names_file_field_and_expectation(tmp_path, old, new, field, expected):
    p = _mutated(tmp_path, old, new)
    with pytest.raises(EdgepruneError) as e:
        load_target(str(p))
    msg = str(e.value)
    assert str(p) in msg and f"field '{field}'" in msg and expected in msg
    assert "\n" not in msg


def test_calibration_for_a_format_without_runtime_is_rejected(tmp_path):
    text = BASE.read_text().replace('[runtimes.onnx]\nruntime = "onnxruntime"\nthreads = 4\n', "")
    p = tmp_path / "no-onnx.toml"
    p.write_text(text)
    with pytest.raises(EdgepruneError, match=r"field 'calibration\[3\]\.format': expected a format listed"):
        load_target(p)


def test_invalid_toml_and_missing_file(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("name = \n")
    with pytest.raises(EdgepruneError, match="broken.toml: not valid TOML"):
        load_target(str(p))
    with pytest.raises(EdgepruneError, match="does not exist"):
        load_target(str(tmp_path / "nope.toml"))


def test_unknown_name_lists_known_targets_and_suggests():
    with pytest.raises(EdgepruneError) as e:
        load_target("raspbery-pi-4")
    msg = str(e.value)
    assert "Did you mean 'raspberry-pi-4'?" in msg and all(n in msg for n in REQUIRED)


def test_user_profile_by_path(tmp_path):
    p = _mutated(tmp_path, 'name = "raspberry-pi-4"', 'name = "my-board"')
    t = load_target(str(p))
    assert t.name == "my-board" and t.path == p and t.budgets.as_dict()["max_ram_mb"] == 256


# ---------------------------------------------------------------- display and CLI
def test_table_and_show():
    table = format_table(list_targets())
    assert all(n in table for n in REQUIRED) and table.splitlines()[0].startswith("name")
    shown = format_target(load_target("raspberry-pi-4"))
    for piece in ("Cortex-A72", "ai-edge-litert, 4 threads", "max peak RAM 256 MB", "255 ms", "derived",
                  "Nota-NetsPresso", "x 1.52"):
        assert piece in shown


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeprune.cli", *args], capture_output=True, text=True)


def test_cli_targets():
    out = _cli("targets")
    assert out.returncode == 0 and all(n in out.stdout for n in REQUIRED)
    out = _cli("targets", "show", "jetson-orin-nano")
    assert out.returncode == 0 and "tensorrt" in out.stdout and "2 ms" in out.stdout
    out = _cli("targets", "show", "pi-4")
    assert out.returncode == 1 and out.stderr.startswith("error: Unknown target 'pi-4'") and out.stderr.count("\n") == 1
