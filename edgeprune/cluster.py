"""Ray, optional (``pip install 'edgeprune[ray]'``): import it or say how to install it, and connect.

Torch-free, so the bench (which runs on devices) can use it too. ``connected``
joins the cluster at ``address`` (``auto``, ``HOST:6379`` or ``ray://HOST:10001``)
or, without one, starts a local Ray on this machine's cores; it shuts Ray down
afterwards only if it started or joined it itself (a caller's ``ray.init`` is kept).
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from .errors import EdgepruneError


def import_ray():
    try:
        import ray
    except ImportError:
        raise EdgepruneError("--executor ray needs Ray, which is not installed.",
                             "Install it with: pip install 'edgeprune[ray]'") from None
    return ray


@contextlib.contextmanager
def connected(address: str | None = None, **init_kwargs: Any) -> Iterator[Any]:
    """The ``ray`` module, initialised for the duration of the block."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        kw = {"logging_level": "WARNING", **init_kwargs}
        try:
            ray.init(address=address, **kw) if address else ray.init(include_dashboard=False, **kw)
        except ConnectionError as e:
            raise EdgepruneError(f"Cannot reach the Ray cluster at {address}: {str(e).splitlines()[0]}",
                                 "Check --ray-address (the head's HOST:6379, or ray://HOST:10001), "
                                 "or drop it to start a local Ray.") from None
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def one_line(e: BaseException) -> str:
    """A Ray task error as one line: the original exception's type and last message line."""
    cause = getattr(e, "cause", None) or e
    lines = [ln for ln in str(cause).splitlines() if ln.strip()]
    return f"{type(cause).__name__}: {lines[-1][:200] if lines else ''}"
