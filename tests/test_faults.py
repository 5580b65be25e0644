"""The bad-input and fault matrix (issue 12): nothing lost, nothing half-done, one-line errors.

Every case runs a real command (in-process through click, so faults can be
injected) and checks three things: the exit code, exactly one ``error:`` line
and no traceback, and that no file outside what the command created changed
(the directory tree is hashed before and after). Disk faults are injected as
``OSError(ENOSPC/EROFS)`` from the calls that create and rename files, so the
suite needs no root and no small tmpfs.
"""
from __future__ import annotations

import errno
import fnmatch
import os
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.runio import RunDir, read_json, sha256_file, write_json
from test_ship import TARGET, TARGET_FILE, export_artifacts, write_bench

LOCKS = (".locks", ".locks/*")  # what every run command may create: its stage lock (and holder file)
CALIB = ("data/calib.npz",)  # export's int8 calibration images (training split), cached in the run
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- helpers
def tree(root: Path) -> dict[str, str]:
    """relative path -> sha256 (files), 'dir' or 'link:<target>', for everything below ``root``, hidden too."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            out[rel] = "link:" + os.readlink(p) if p.is_symlink() else "dir" if p.is_dir() else sha256_file(p)
    return out


def assert_untouched(before: dict[str, str], after: dict[str, str], created: tuple[str, ...] = ()) -> None:
    """Nothing of ``before`` changed or went; new paths only those the command may create (globs)."""
    changed = sorted(k for k in before if after.get(k) != before[k])
    new = sorted(k for k in after if k not in before and not any(fnmatch.fnmatch(k, g) for g in created))
    assert not changed and not new, f"changed or removed: {changed}; unexpected new: {new}"


def cli(*args) -> tuple[int, str, str]:
    """Run edgeprune in-process: (exit code, the one error line, everything printed)."""
    res = CliRunner().invoke(main, [str(a) for a in args])
    text = res.stdout + res.stderr
    assert res.exception is None or isinstance(res.exception, SystemExit), \
        f"uncaught {type(res.exception).__name__}: {res.exception}\n{text}"
    assert "Traceback" not in text, text
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) <= 1, res.stderr
    return res.exit_code, (errors[0] if errors else ""), text


def one_line(code: int, line: str, text: str, exit_code: int = 1) -> str:
    assert code == exit_code, text
    assert line.startswith("error: ") and "\n" not in line, text
    return line


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache/edgeprune from these tests."""
    monkeypatch.setenv("EDGEPRUNE_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def disk(monkeypatch):
    """``disk(root, errno, match)``: creating, writing or renaming a path under ``root`` (containing ``match``)
    fails with that errno, as a full or read-only file system would."""

    def fail(root: Path, err: int, match: str = "") -> None:
        root = str(Path(root).resolve())

        def hit(path) -> bool:
            p = os.path.abspath(os.fspath(path))
            return (p == root or p.startswith(root + os.sep)) and match in p

        def boom(path):
            raise OSError(err, os.strerror(err), os.fspath(path))

        real_open, real_mkdir, real_replace, real_rename = os.open, os.mkdir, os.replace, os.rename

        def fake_open(path, flags, *a, **k):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and hit(path):
                boom(path)
            return real_open(path, flags, *a, **k)

        def fake_mkdir(path, *a, **k):
            if hit(path) and not os.path.isdir(path):
                boom(path)
            return real_mkdir(path, *a, **k)

        def fake_move(real):
            def move(src, dst, *a, **k):
                if hit(dst):
                    boom(dst)
                return real(src, dst, *a, **k)
            return move

        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os, "mkdir", fake_mkdir)
        monkeypatch.setattr(os, "replace", fake_move(real_replace))
        monkeypatch.setattr(os, "rename", fake_move(real_rename))

    return fail


@pytest.fixture(scope="module")
def benched(fake_run, tmp_path_factory) -> Path:
    """The fake run with real ONNX artifacts and a bench file for the test target (read-only: copy it)."""
    root = tmp_path_factory.mktemp("faults") / "run"
    shutil.copytree(fake_run, root)
    export_artifacts(root, tflite_ids=())
    write_bench(root)
    return root


@pytest.fixture
def run(benched, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(benched, dst)
    return dst


@pytest.fixture
def shipped(run) -> Path:
    """``run`` with a selection and a ship bundle."""
    assert cli("select", run, "--target", str(TARGET_FILE))[0] == 0
    assert cli("ship", run, "--target", str(TARGET_FILE))[0] == 0
    return run


def _bundle(run: Path) -> Path:
    return RunDir(run).ship_dir(TARGET.name)


# ---------------------------------------------------------------- data loss: stale temps
@pytest.mark.parametrize("args", [
    ["prune", "--model", "not_a_model"],
    ["export", "--model", "not_a_model", "--checkpoint", "ck.pt", "--input-shape", "1,3,32,32"],
])
def test_bad_input_never_touches_the_users_out_folder(tmp_path, args):
    mine = tmp_path / "mine"
    (mine / "sub" / ".cache.tmp").mkdir(parents=True)
    (mine / "sub" / ".cache.tmp" / "x").write_text("user data")
    (mine / "notes.txt").write_text("user data")
    (mine / ".draft.txt.tmp").write_text("user data")
    (mine / ".run.json.edgeprune-abc.tmp").write_text("even a marked name: this folder is not a run")
    before = tree(mine)
    line = one_line(*cli(*args, "--out", mine))
    assert "Unknown model 'not_a_model'" in line
    assert_untouched(before, tree(mine))


def test_stale_temps_go_only_when_marked_and_only_in_a_run(fake_run_copy, tmp_path):
    from edgeprune.locks import clean_stage_temps

    rd = RunDir(fake_run_copy)
    rd.artifacts_dir.mkdir()
    ours = [rd.artifacts_dir / ".dense.onnx.edgeprune-k1ll.onnx.tmp",
            rd.dense_dir / ".model.safetensors.edgeprune-x.tmp"]
    ours_dir = rd.candidates_dir / ".magnitude-fake-50.edgeprune-y.tmp"
    users = [rd.artifacts_dir / ".notes.tmp", rd.dense_dir / ".mine.tmp", rd.root / ".scratch.edgeprune-z.tmp"]
    for p in ours + users:
        p.write_text("x")
    ours_dir.mkdir()
    (ours_dir / "candidate.json").write_text("{}")
    assert clean_stage_temps(rd.root, "export") == 1 and not ours[0].exists() and ours[1].exists()
    assert clean_stage_temps(rd.root, "prune") == 2 and not ours[1].exists() and not ours_dir.exists()
    assert all(p.read_text() == "x" for p in users)  # no marker, or not a name of the stage: kept
    plain = tmp_path / "plain"  # no run.json: never cleaned
    plain.mkdir()
    (plain / ".a.edgeprune-1.tmp").write_text("x")
    assert clean_stage_temps(plain, "prune") == 0 and (plain / ".a.edgeprune-1.tmp").exists()


def test_export_cleans_stale_temps_only_after_its_inputs_are_valid(fake_run_copy):
    rd = RunDir(fake_run_copy)
    rd.artifacts_dir.mkdir()
    stale = rd.artifacts_dir / ".magnitude-fake-50.onnx.edgeprune-k1ll.onnx.tmp"
    stale.write_bytes(b"")
    (rd.artifacts_dir / ".notes.tmp").write_text("user data")
    before = tree(rd.root)
    line = one_line(*cli("export", rd.root, "--candidates", "nope"))
    assert "Unknown candidate 'nope'" in line
    assert_untouched(before, tree(rd.root))  # the stale temp is still there: nothing happens before validation
    code, _, text = cli("export", rd.root, "--candidates", "magnitude-fake-50", "--formats", "onnx")
    assert code == 0, text
    after = tree(rd.root)
    assert not stale.exists() and (rd.artifacts_dir / ".notes.tmp").read_text() == "user data"
    del before[stale.relative_to(rd.root).as_posix()]
    assert_untouched(before, after, LOCKS + CALIB + ("artifacts/magnitude-fake-50.*",))


def test_reference_cache_drops_a_killed_builds_temp(tmp_path, monkeypatch):
    from edgeprune.bench.reference import ensure_reference, reference_path
    from edgeprune.targets import load_target

    cal = load_target("raspberry-pi-4").calibrations("onnx")[0]
    path = reference_path(cal)
    assert str(path).startswith(str(tmp_path / "cache"))  # the test's cache, never ~/.cache
    path.parent.mkdir(parents=True)
    path.write_bytes(b"a cached reference model")
    write_json(path.with_name(path.name + ".json"), {"sha256": sha256_file(path)})
    killed = path.parent / f".{path.name}.edgeprune-k1ll{path.suffix}.tmp"
    killed.write_bytes(b"")  # 0 bytes, as a killed build leaves it
    other = path.parent / ".someone-elses.tmp"
    other.write_text("x")
    assert ensure_reference(cal) == path
    assert not killed.exists() and other.exists() and path.read_bytes() == b"a cached reference model"


# ---------------------------------------------------------------- signing and verify
def _keygen(tmp_path: Path, name: str = "key") -> tuple[Path, Path]:
    code, line, text = cli("keygen", tmp_path / name)
    assert code == 0, text
    return tmp_path / name, tmp_path / f"{name}.pub"


def _swap_model(bundle: Path, other: Path) -> None:
    """A deliberate swap: another candidate's file, with its sha256, size and eval accuracy in the manifest."""
    from edgeprune.ship.evalset import load_eval, run_eval

    shutil.copyfile(other, bundle / "model.onnx")
    m = read_json(bundle / "manifest.json")
    x, y, _ = load_eval(bundle / "eval.npz")
    m["eval"]["expected_accuracy"] = run_eval(bundle / "model.onnx", x, y, m["input"]["layout"], 1).accuracy
    sha, size = sha256_file(other), other.stat().st_size
    m.update(sha256=sha, size_bytes=size)
    m["files"]["model.onnx"] = {"sha256": sha, "bytes": size}
    write_json(bundle / "manifest.json", m)


def test_signature_catches_a_swap_that_hashes_cannot(run, tmp_path):
    key, pub = _keygen(tmp_path)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert cli("select", run, "--target", str(TARGET_FILE))[0] == 0
    code, _, text = cli("ship", run, "--target", str(TARGET_FILE), "--sign-key", key)
    assert code == 0, text
    bundle = _bundle(run)
    assert (bundle / "manifest.json.sig").stat().st_size == 64
    code, _, text = cli("verify", bundle, "--public-key", pub)
    assert code == 0 and "ok   signature: valid ed25519" in text and "signed by key" in text, text
    if shutil.which("openssl"):  # the signature is standard: OpenSSL checks it without edgeprune
        ossl = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in",
                               bundle / "manifest.json", "-sigfile", bundle / "manifest.json.sig"],
                              capture_output=True, text=True)
        assert ossl.returncode == 0 and "Signature Verified Successfully" in ossl.stdout, ossl.stdout + ossl.stderr
    choice = read_json(bundle / "manifest.json")["candidate"]["id"]
    other = next(c for c in ("dense", "magnitude-fake-50", "magnitude-fake-90") if c != choice)
    _swap_model(bundle, RunDir(run).artifact(other, "onnx"))
    before = tree(bundle)
    code, _, text = cli("verify", bundle)  # hashes alone: the swap passes, and verify says what that means
    assert code == 0 and "integrity only: signed, but the signature was not checked" in text, text
    code, _, text = cli("verify", bundle, "--public-key", pub)
    assert code == 1 and "FAIL signature: NOT valid" in text, text
    _, pub2 = _keygen(tmp_path, "other")
    assert cli("verify", bundle, "--public-key", pub2)[0] == 1
    assert_untouched(before, tree(bundle))


def test_unsigned_bundle_is_integrity_only(shipped, tmp_path):
    bundle = _bundle(shipped)
    code, _, text = cli("verify", bundle)
    assert code == 0 and text.strip().endswith("integrity only, not signed"), text
    _, pub = _keygen(tmp_path)
    code, _, text = cli("verify", bundle, "--public-key", pub)
    assert code == 1 and "FAIL manifest.json.sig: missing; the bundle is not signed" in text, text


def test_ship_signs_an_unchanged_bundle_and_keeps_it(shipped, tmp_path):
    key, pub = _keygen(tmp_path)
    bundle = _bundle(shipped)
    before = tree(bundle)
    assert cli("ship", shipped, "--target", str(TARGET_FILE), "--sign-key", key)[0] == 0
    assert_untouched(before, tree(bundle), ("manifest.json.sig",))  # only the signature is new
    assert cli("verify", bundle, "--public-key", pub)[0] == 0


@pytest.mark.parametrize("key_text, match", [
    (None, "does not exist"),
    ("not a key", "is not a readable PEM private key"),
    ("public", "is not a readable PEM private key"),
])
def test_bad_signing_key_is_one_line_before_any_work(run, tmp_path, key_text, match):
    assert cli("select", run, "--target", str(TARGET_FILE))[0] == 0
    key = tmp_path / "bad.pem"
    if key_text == "public":
        key = _keygen(tmp_path)[1]
    elif key_text is not None:
        key.write_text(key_text)
    before = tree(run)
    line = one_line(*cli("ship", run, "--target", str(TARGET_FILE), "--sign-key", key))
    assert match in line
    assert_untouched(before, tree(run))


def test_keygen_never_overwrites(tmp_path):
    key, pub = _keygen(tmp_path)
    before = tree(tmp_path)
    line = one_line(*cli("keygen", key))
    assert "already exists" in line
    assert_untouched(before, tree(tmp_path))


def test_verify_with_a_key_needs_cryptography_and_says_so(shipped, tmp_path):
    _, pub = _keygen(tmp_path)
    block = ("import sys\nclass B:\n    def find_spec(self, name, path=None, target=None):\n"
             "        if name.split('.')[0] in {'cryptography', 'torch'}:\n            raise ImportError(name)\n"
             "sys.meta_path.insert(0, B())\nfrom edgeprune.cli import main\n")
    bundle = _bundle(shipped)
    plain = subprocess.run([sys.executable, "-c", block + f"main(['verify', {str(bundle)!r}])"],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert plain.returncode == 0 and "integrity only, not signed" in plain.stdout, plain.stdout + plain.stderr
    keyed = subprocess.run([sys.executable, "-c", block + f"main(['verify', {str(bundle)!r}, '--public-key', "
                            f"{str(pub)!r}])"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert keyed.returncode == 1 and keyed.stderr.strip().splitlines() == [
        "error: cryptography is not installed. Install it with: pip install 'edgeprune[device]'"], keyed.stderr


# ---------------------------------------------------------------- verify: extras, links, malformed manifest
def _extra_file(b: Path) -> None:
    (b / "notes.txt").write_text("not shipped")


def _extra_folder(b: Path) -> None:
    (b / "more").mkdir()


def _symlinked_readme(b: Path) -> None:
    outside = b.parent / "README-copy.md"
    shutil.copyfile(b / "README.md", outside)  # same bytes: following the link would pass the hash
    (b / "README.md").unlink()
    (b / "README.md").symlink_to(outside)


def _extra_symlink(b: Path) -> None:
    (b / "passwd").symlink_to("/etc/passwd")


@pytest.mark.parametrize("damage, expect", [
    (_extra_file, "FAIL notes.txt: extra file not listed in manifest.json"),
    (_extra_folder, "FAIL more: extra folder not listed in manifest.json"),
    (_symlinked_readme, "FAIL README.md: a symbolic link"),
    (_extra_symlink, "FAIL passwd: a symbolic link (to /etc/passwd)"),
])
def test_verify_refuses_extra_files_and_symlinks(shipped, damage, expect):
    bundle = _bundle(shipped)
    damage(bundle)
    before = tree(bundle.parent)
    code, _, text = cli("verify", bundle)
    assert code == 1 and expect in text and "the bundle is not what was shipped" in text, text
    assert_untouched(before, tree(bundle.parent))


def _manifest_list(b: Path) -> None:
    (b / "manifest.json").write_text("[1, 2]")


def _manifest_link(b: Path) -> None:
    real = b.parent / "manifest-elsewhere.json"
    shutil.move(b / "manifest.json", real)
    (b / "manifest.json").symlink_to(real)


@pytest.mark.parametrize("damage, expect", [
    (_manifest_list, "holds a JSON list, not an object"),
    (_manifest_link, "is a symbolic link; verify never reads through one"),
])
def test_verify_malformed_manifest_is_one_line(shipped, damage, expect):
    bundle = _bundle(shipped)
    damage(bundle)
    before = tree(bundle.parent)
    assert expect in one_line(*cli("verify", bundle))
    assert_untouched(before, tree(bundle.parent))


def test_verify_without_eval_set_gives_the_right_reason(shipped):
    bundle = _bundle(shipped)
    (bundle / "eval.npz").unlink()
    code, _, text = cli("verify", bundle)
    assert code == 1 and "FAIL eval.npz: missing" in text
    assert "skip accuracy: eval.npz is missing, so there is no trusted eval set to run" in text
    assert "a model that does not match its manifest" not in text


# ---------------------------------------------------------------- concurrency
HOLD = """
import sys, time
from edgeprune.locks import stage_lock
with stage_lock(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder():
    procs = []

    def hold(run: Path, stage: str) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-c", HOLD, str(run), stage], stdout=subprocess.PIPE, text=True,
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert p.stdout.readline().strip() == "held"
        procs.append(p)
        return p

    yield hold
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.parametrize("stage, args", [
    ("bench", ["bench", "{run}", "--target", "raspberry-pi-4"]),
    ("export", ["export", "{run}", "--formats", "onnx"]),
    ("select", ["select", "{run}", "--target", str(TARGET_FILE)]),
    ("ship", ["ship", "{run}", "--target", str(TARGET_FILE)]),
])
def test_second_command_on_a_run_refuses_with_the_holders_pid(shipped, holder, stage, args):
    held = holder(shipped, stage)
    before = tree(shipped)
    line = one_line(*cli(*[a.format(run=shipped) for a in args]), exit_code=3)
    assert f"PID {held.pid}" in line and f"is running its {stage} stage" in line and "-c" in line, line
    assert f"kill {held.pid}" in line
    assert_untouched(before, tree(shipped))


def test_prune_refuses_while_another_prune_holds_the_folder(tmp_path, holder):
    out = tmp_path / "r"
    out.mkdir()
    held = holder(out, "prune")
    before = tree(out)
    line = one_line(*cli("prune", "--model", "test_resnet", "--out", out), exit_code=3)
    assert f"PID {held.pid}" in line
    assert_untouched(before, tree(out))


def test_a_killed_holder_releases_the_lock(fake_run_copy, holder):
    from edgeprune.locks import stage_lock

    held = holder(fake_run_copy, "bench")
    os.kill(held.pid, signal.SIGKILL)
    held.wait()
    with stage_lock(fake_run_copy, "bench"):  # the OS dropped the dead process's lock
        assert read_json(fake_run_copy / ".locks" / "bench.holder.json")["pid"] == os.getpid()
    assert not (fake_run_copy / ".locks" / "bench.holder.json").exists()


# ---------------------------------------------------------------- disk full / read-only
def test_export_out_of_space_on_the_second_format_keeps_the_first_recorded(fake_run_copy, disk):
    rd = RunDir(fake_run_copy)
    before = tree(rd.root)
    disk(rd.artifacts_dir, errno.ENOSPC, ".tflite")
    line = one_line(*cli("export", rd.root, "--candidates", "magnitude-fake-50"))
    assert f"Cannot write {rd.artifact('magnitude-fake-50', 'tflite')}: no space left on device (ENOSPC)" in line
    assert "Free space" in line
    rec = read_json(rd.artifact_json("magnitude-fake-50"))
    assert list(rec["formats"]) == ["onnx"]  # recorded, not orphaned
    assert rec["formats"]["onnx"]["sha256"] == sha256_file(rd.artifact("magnitude-fake-50", "onnx"))
    int8 = rec["int8"]["formats"]["onnx"]  # the int8 twin (default --precision both) is recorded as well
    assert list(rec["int8"]["formats"]) == ["onnx"]  # (this random fake model's int8 is rejected: a verdict)
    assert int8.get("rejected") or int8["sha256"] == sha256_file(rd.artifacts_dir / int8["file"])
    assert_untouched(before, tree(rd.root), LOCKS + CALIB + ("artifacts", "artifacts/magnitude-fake-50.onnx",
                                                             "artifacts/magnitude-fake-50.int8.onnx",
                                                             "artifacts/magnitude-fake-50.json"))


def test_export_that_cannot_write_its_record_removes_the_new_file(fake_run_copy, disk):
    rd = RunDir(fake_run_copy)
    before = tree(rd.root)
    disk(rd.artifacts_dir, errno.ENOSPC, "magnitude-fake-50.json")
    line = one_line(*cli("export", rd.root, "--candidates", "magnitude-fake-50", "--formats", "onnx"))
    assert f"Cannot write {rd.artifact_json('magnitude-fake-50')}: no space left" in line
    assert_untouched(before, tree(rd.root), LOCKS + CALIB + ("artifacts",))  # no artifact without its record


def test_ship_out_of_space_keeps_the_previous_bundle(shipped, disk):
    rd = RunDir(shipped)
    assert cli("select", shipped, "--target", str(TARGET_FILE), "--max-latency-ms", "25")[0] == 0  # another choice
    before = tree(rd.root)
    disk(rd.root / "ship", errno.ENOSPC)
    line = one_line(*cli("ship", shipped, "--target", str(TARGET_FILE)))
    assert f"Cannot write {rd.ship_dir(TARGET.name)}: no space left on device (ENOSPC)" in line
    assert_untouched(before, tree(rd.root), LOCKS)


def test_select_out_of_space_keeps_the_previous_selection(shipped, disk):
    rd = RunDir(shipped)
    before = tree(rd.root)
    disk(rd.root, errno.ENOSPC, "selection")
    line = one_line(*cli("select", shipped, "--target", str(TARGET_FILE), "--max-latency-ms", "25"))
    assert f"Cannot write {rd.selection_json}: no space left on device" in line
    assert_untouched(before, tree(rd.root), LOCKS)


@pytest.mark.parametrize("err, match, where, created", [
    (errno.EROFS, "", ".locks/prune.lock", ()),
    (errno.ENOSPC, "test.npz", "data/test.npz", LOCKS + ("build.json", "data")),
])
def test_build_reports_the_disk_error_not_a_second_one_about_build_json(tmp_path, disk, err, match, where,
                                                                         created):
    out = tmp_path / "out"
    out.mkdir()
    before = tree(out)
    disk(out, err, match)
    line = one_line(*cli("build", "--target", "raspberry-pi-4", "--model", "test_resnet", "--out", out))
    assert f"Cannot write {out / where}: " in line and errno.errorcode[err] in line, line
    assert_untouched(before, tree(out), created)
    if (out / "build.json").exists():
        assert read_json(out / "build.json")["stages"][0]["status"] == "failed"


# ---------------------------------------------------------------- malformed input
def _cifar(root: Path, batch) -> None:
    rng = np.random.default_rng(0)
    root.mkdir()
    good = {b"data": rng.integers(0, 255, (20, 3072), dtype=np.uint8), b"labels": list(range(10)) * 2}
    for name in ("data_batch_1", "test_batch"):
        with open(root / name, "wb") as f:
            pickle.dump(batch if name == "data_batch_1" else good, f)


@pytest.mark.parametrize("batch, match", [
    ([1, 2, 3], "holds a list, not a dict"),
    ({b"labels": [1, 2]}, "no 'data'"),
])
def test_malformed_cifar_batch_is_one_line_and_writes_nothing(tmp_path, batch, match):
    _cifar(tmp_path / "c10", batch)
    before = tree(tmp_path)
    line = one_line(*cli("prune", "--model", "test_resnet", "--data", tmp_path / "c10", "--out", tmp_path / "r"))
    assert "not a CIFAR python batch" in line and match in line
    assert_untouched(before, tree(tmp_path))


@pytest.mark.parametrize("name, args, match", [
    ("selection.json", ["ship", "{run}", "--target", str(TARGET_FILE)], "selection.json holds a JSON list"),
    ("run.json", ["export", "{run}"], "run.json holds a JSON list"),
    (f"bench/{TARGET.name}.json", ["select", "{run}", "--target", str(TARGET_FILE)], f"{TARGET.name}.json holds a JSON list"),
])
def test_json_that_is_not_an_object_is_one_line(shipped, name, args, match):
    (shipped / name).write_text("[]")
    before = tree(shipped)
    assert match in one_line(*cli(*[a.format(run=shipped) for a in args]))
    assert_untouched(before, tree(shipped))


# ---------------------------------------------------------------- validate first, write after
def _pickled_model(tmp_path: Path) -> Path:
    import torch

    ck = tmp_path / "whole.pt"
    torch.save(torch.nn.Linear(2, 2), ck)
    return ck


def _wrong_classes(tmp_path: Path) -> Path:
    import torch

    from edgeprune.models import create_model, resolve_spec

    ck = tmp_path / "seven.pt"
    torch.save(create_model(resolve_spec("test_resnet", 7, 32)).state_dict(), ck)
    return ck


@pytest.mark.parametrize("make, match", [
    (_pickled_model, "(it pickles torch.nn.modules.linear.Linear, and only tensors are loaded). Save it with "
                     "torch.save(model.state_dict(), path) or safetensors; pickled whole models are refused."),
    (_wrong_classes, "does not fit ResNet: shape mismatch: fc.weight (7, "),
])
@pytest.mark.parametrize("out_exists", [False, True])
def test_checkpoint_is_validated_before_out_or_test_npz_exist(tmp_path, make, match, out_exists):
    ck = make(tmp_path)
    out = tmp_path / "r"
    if out_exists:
        out.mkdir()
    before = tree(tmp_path)
    line = one_line(*cli("prune", "--model", "test_resnet", "--checkpoint", ck, "--out", out))
    assert match in line, line
    assert_untouched(before, tree(tmp_path))  # no --out folder, no data/test.npz


def test_damaged_candidate_advises_rerunning_prune(fake_run_copy):
    rd = RunDir(fake_run_copy)
    w = rd.candidate_weights("magnitude-fake-50")
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    before = tree(rd.root)
    line = one_line(*cli("export", rd.root, "--candidates", "magnitude-fake-50"))
    assert "Weights of 'magnitude-fake-50'" in line and "damaged" in line and "Re-run 'edgeprune prune'" in line
    assert "torch.save" not in line
    assert_untouched(before, tree(rd.root), LOCKS)


# ---------------------------------------------------------------- half-done work
def test_ctrl_c_during_bench_keeps_finished_results_and_resume_uses_them(run, monkeypatch):
    import edgeprune.bench as bench
    from edgeprune.bench import BenchSettings, bench_run

    # settle_margin=0: every artifact gets both rounds (settling after round 1 depends on measured RAM)
    settings = BenchSettings(rounds=2, max_rounds=2, min_runs=10, target_seconds=0.05, warmup_seconds=0.02,
                             timeout_seconds=300, settle_margin=0)
    real, calls = bench.run_worker, []

    def interrupted(job, timeout):
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the third worker runs
        calls.append(job)
        return real(job, timeout)

    rd = RunDir(run)
    dest = rd.bench_json("raspberry-pi-4")
    journal = dest.with_name("raspberry-pi-4.partial.jsonl")
    monkeypatch.setattr(bench, "run_worker", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bench_run(run, "raspberry-pi-4", on_device=True, settings=settings, log=lambda s: None, echo=False)
    assert not dest.exists() and len(journal.read_text().splitlines()) == 2  # the finished ones, saved

    resumed: list = []
    monkeypatch.setattr(bench, "run_worker", lambda job, timeout: resumed.append(job) or real(job, timeout))
    bench_run(run, "raspberry-pi-4", on_device=True, settings=settings, log=lambda s: None, echo=False)
    doc = read_json(dest)
    n = len(doc["rows"])
    assert n == 3 and len(resumed) == 2 * n - 2  # two rounds each, minus the two saved results
    assert doc["resumed"]["results"] == 2 and not journal.exists()
    assert all(r["latency_ms"]["runs"] > 0 and len(r["latency_ms"]["round_medians"]) == 2 for r in doc["rows"])


def test_ctrl_c_message_is_printed_with_exit_130(run, monkeypatch):
    import edgeprune.bench as bench

    def ctrl_c(job, timeout):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "run_worker", ctrl_c)
    res = CliRunner().invoke(main, ["bench", str(run), "--target", "raspberry-pi-4", "--on-device"])
    assert res.exit_code == 130 and "interrupted: finished work is saved" in res.stderr


def test_impossible_select_keeps_the_last_good_selection_and_ship_still_works(shipped):
    rd = RunDir(shipped)
    good = read_json(rd.selection_json)
    before = tree(rd.root)
    line = one_line(*cli("select", shipped, "--target", str(TARGET_FILE), "--max-size-mb", "0.001"), exit_code=2)
    assert "Nothing meets the test-pi budget" in line and "This attempt is in selection.failed.json" in line
    assert f"selection.json keeps the last good choice ({good['choice']['key']} for test-pi)" in line
    assert_untouched(before, tree(rd.root), LOCKS + ("selection.failed.json",))
    assert read_json(rd.selection_failed_json)["nothing_feasible"]["closest"]
    code, _, text = cli("ship", shipped, "--target", str(TARGET_FILE))
    assert code == 0, text
    assert read_json(_bundle(shipped) / "manifest.json")["selection"]["key"] == good["choice"]["key"]
    assert cli("select", shipped, "--target", str(TARGET_FILE))[0] == 0
    assert not rd.selection_failed_json.exists()  # a later good select supersedes the failed attempt


# ---------------------------------------------------------------- wording
@pytest.mark.parametrize("flag, value, match, wrong", [
    ("--min-accuracy", "-1", "is not a fraction in [0, 1]. Example: --min-accuracy 0.95", "--min-accuracy 5"),
    ("--max-size-mb", "0", "--max-size-mb 0.0 is not a number > 0. Example: --max-size-mb 5", None),
])
def test_budget_errors_say_the_right_thing(shipped, flag, value, match, wrong):
    before = tree(shipped)
    line = one_line(*cli("select", shipped, "--target", str(TARGET_FILE), flag, value))
    assert match in line and (wrong is None or wrong not in line), line
    assert_untouched(before, tree(shipped))


def test_ship_unknown_target_does_not_advise_selecting_it(shipped):
    before = tree(shipped)
    line = one_line(*cli("ship", shipped, "--target", "raspbery-pi-4"))
    assert "Unknown target 'raspbery-pi-4'" in line and "Did you mean 'raspberry-pi-4'" in line
    assert "select" not in line
    assert_untouched(before, tree(shipped))
