"""Progress bars that stay out of the way: tqdm on a terminal, silent in logs and tests.

The one progress reporter of gazebench (training, evaluation, ``prepare``, ``check-data``,
``synth``): ``with progress_bar(total, desc, enabled) as update: ... update(n)``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "img") -> Iterator[Callable[[int], None]]:
    """Yields ``update(n)`` (``n`` more items done); draws a bar on stderr when enabled and stderr is
    a terminal, and does nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n: None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True, file=sys.stderr) as bar:
        yield bar.update
