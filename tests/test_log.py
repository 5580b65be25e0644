"""Stage messages go through the ``edgeprune`` logger: a script can silence or capture them (issue 13)."""
from __future__ import annotations

import logging

import pytest

from edgeprune import log


@pytest.fixture(autouse=True)
def _restore():
    yield
    log.restore()


def _stage_messages(tmp_path) -> None:
    """Lines through the bench stage's default ``log`` and the export stage's own reporter."""
    from edgeprune.bench import log_stderr
    from edgeprune.export.records import _log as export_log

    log_stderr("bench: a line")
    export_log("export: another line")


def test_default_prints_plain_lines_on_stderr(tmp_path, capsys):
    _stage_messages(tmp_path)
    captured = capsys.readouterr()
    assert captured.err == "bench: a line\nexport: another line\n" and captured.out == ""


def test_a_script_can_silence_them(tmp_path, capsys):
    logging.getLogger("edgeprune").setLevel(logging.WARNING)
    _stage_messages(tmp_path)
    assert capsys.readouterr().err == ""
    assert not log.enabled()  # the prune stage's progress bars are off too
    from edgeprune.prune.progress import progress

    assert progress(range(3)).disable


def test_a_script_can_capture_them(tmp_path, capsys):
    got: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            got.append(record.getMessage())

    log.capture(Keep())
    _stage_messages(tmp_path)
    assert got == ["bench: a line", "export: another line"] and capsys.readouterr().err == ""
