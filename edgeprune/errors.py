"""User-facing errors: one line that names the problem and the fix."""
from __future__ import annotations


class EdgepruneError(Exception):
    """An error caused by the user's input or environment.

    The CLI prints ``str(err)`` as a single line and exits with ``exit_code``;
    library callers can catch it. Never raise it for a bug in edgeprune.
    """

    exit_code = 1

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} {fix}".strip() if fix else problem)


class NothingFeasible(EdgepruneError):
    """No candidate meets the device budget (exit code 2)."""

    exit_code = 2


def missing_extra(module: str, extra: str) -> EdgepruneError:
    """Error for an optional dependency that is not installed."""
    return EdgepruneError(
        f"{module} is not installed.",
        f"Install it with: pip install 'edgeprune[{extra}]'",
    )


class WriteFailed(EdgepruneError):
    """The disk refused a write (full, read-only, no permission): the environment, not the input."""


# errno -> (what happened, how to fix it)
_WRITE_ERRNOS = {
    "ENOSPC": ("no space left on device", "Free space on that disk (or use another --out) and re-run the same "
                                          "command; finished results are kept."),
    "EDQUOT": ("disk quota exceeded", "Free space within your quota (or use another --out) and re-run; "
                                      "finished results are kept."),
    "EROFS": ("read-only file system", "Use a writable directory (or remount it read-write) and re-run; "
                                       "nothing was changed."),
    "EACCES": ("permission denied", "Use a directory you can write to and re-run; nothing was changed."),
    "EPERM": ("operation not permitted", "Use a directory you can write to and re-run; nothing was changed."),
}


def write_error(exc: BaseException, path: object) -> WriteFailed | None:
    """A one-line :class:`WriteFailed` for an ``OSError`` the disk raised while writing ``path``, else None."""
    import errno as _errno

    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    name = _errno.errorcode.get(exc.errno)
    if name not in _WRITE_ERRNOS:
        return None
    what, fix = _WRITE_ERRNOS[name]
    return WriteFailed(f"Cannot write {path}: {what} ({name}).", fix)
