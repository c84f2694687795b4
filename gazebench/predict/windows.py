"""The frame window of a sequence model over one sequence, streamed.

The rule is the training path's (:meth:`gazebench.datasets.base.GazeDataset.windows`): the
window of the item of rank ``r`` holds the items of ranks ``r + o`` for the model's offsets ``o``
(e.g. -3..+3); a rank past either end of the sequence is replaced by the nearest item that exists
(the edge item), and such a window is marked incomplete.  Ranks count the items that reach the
model (frames with a head box), so a frame left out is skipped over as a dataset's missing frame is.

:func:`windows` holds at most ``max(o) - min(o) + 1`` items, so a long video never sits in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def _window(buffer: dict[int, T], rank: int, offsets: Sequence[int], last: int) -> tuple[list[T], bool]:
    ranks = [rank + o for o in offsets]
    complete = all(0 <= r <= last for r in ranks)
    return [buffer[min(max(r, 0), last)] for r in ranks], complete


def windows(items: Iterable[T], offsets: Sequence[int]) -> Iterator[tuple[T, list[T], bool]]:
    """``(item, window, complete)`` for every item of one sequence, in order."""
    lo, hi = min(offsets), max(offsets)
    if lo > 0 or hi < 0:
        raise ValueError(f"a window must include its own frame (offset 0); got {tuple(offsets)}")
    buffer: dict[int, T] = {}
    n = 0
    for item in items:
        buffer[n] = item
        rank = n - hi  # the latest item whose window is now whole on the right
        if rank >= 0:
            yield (buffer[rank], *_window(buffer, rank, offsets, n))
            for old in [k for k in buffer if k < rank + 1 + lo]:
                del buffer[old]
        n += 1
    for rank in range(max(n - hi, 0), n):
        yield (buffer[rank], *_window(buffer, rank, offsets, n - 1))
