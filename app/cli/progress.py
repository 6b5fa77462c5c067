"""Progress bars for long commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def bar(total: int | None, desc: str, unit: str = "galaxy") -> Iterator[Callable[[int], None]]:
    """A tqdm bar on stderr; yields the function that advances it."""
    with tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True) as pbar:
        yield pbar.update
