"""Progress bars and one-line messages of the prune stage (stderr; stdout stays for results)."""
from __future__ import annotations

import sys


def progress(iterable=None, **kw):
    """A tqdm bar on stderr (kept on screen unless ``leave=False``)."""
    from tqdm.auto import tqdm

    kw.setdefault("leave", True)
    return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, **kw)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
