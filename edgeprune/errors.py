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
