"""Progress bars that stay out of the way: tqdm on a terminal, silent in logs and tests."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from tqdm.auto import tqdm


@contextlib.contextmanager
def progress_bar(total: int, desc: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yields ``update(n)``; draws a bar on stderr when enabled and stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n: None
        return
    with tqdm(total=total, desc=desc, unit="img", leave=False, dynamic_ncols=True, file=sys.stderr) as bar:
        yield bar.update
