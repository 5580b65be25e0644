"""Stage messages: one logger, ``edgeprune``, that a script can silence or capture.

Every stage reports its progress lines through :func:`info` (and the prune
stage's progress bars follow the same level). By default they go to stderr as
plain lines, which is what the CLI prints. A script using the Python API::

    import logging
    logging.getLogger("edgeprune").setLevel(logging.WARNING)  # silence messages and bars
    capture(my_handler)                                        # or send them elsewhere

Results (tables, JSON) are never logged: commands print those on stdout.
"""
from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("edgeprune")


class _Stderr(logging.Handler):
    """Plain lines on the ``sys.stderr`` of the moment (so redirecting it, as tests do, works)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - logging must never break a stage
            self.handleError(record)


DEFAULT_HANDLER = _Stderr()
DEFAULT_HANDLER.setFormatter(logging.Formatter("%(message)s"))
LOGGER.addHandler(DEFAULT_HANDLER)
LOGGER.setLevel(logging.INFO)
LOGGER.propagate = False  # else a script's root handler would print every line twice


def info(msg: str) -> None:
    """One progress line of a stage."""
    LOGGER.info(msg)


def warning(msg: str) -> None:
    LOGGER.warning(msg)


def enabled() -> bool:
    """Whether progress is shown (progress bars check this too)."""
    return LOGGER.isEnabledFor(logging.INFO)


def capture(handler: logging.Handler) -> None:
    """Send stage messages to ``handler`` instead of stderr."""
    LOGGER.removeHandler(DEFAULT_HANDLER)
    LOGGER.addHandler(handler)


def restore() -> None:
    """Back to the default: every handler removed, plain lines on stderr."""
    for h in list(LOGGER.handlers):
        LOGGER.removeHandler(h)
    LOGGER.addHandler(DEFAULT_HANDLER)
    LOGGER.setLevel(logging.INFO)
