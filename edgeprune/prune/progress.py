"""Progress bars and one-line messages of the prune stage (stderr; stdout stays for results).

Both follow the ``edgeprune`` logger's level (:mod:`edgeprune.log`): a script that silences it gets no bars either.
"""
from __future__ import annotations

import sys

from ..log import enabled, info


def progress(iterable=None, **kw):
    """A tqdm bar on stderr (kept on screen unless ``leave=False``)."""
    from tqdm.auto import tqdm

    kw.setdefault("leave", True)
    kw.setdefault("disable", not enabled())
    return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, **kw)


def epoch_bar(bar):
    """``fit``'s ``on_epoch`` that advances ``bar`` one epoch and shows the validation accuracy (None: no bar)."""
    if bar is None:
        return None
    return lambda r: (bar.update(1), bar.set_postfix(val=f"{r['val_accuracy']:.3f}"))


def log(msg: str) -> None:
    info(msg)
