"""Overlapping per-frame I/O with computation.

Image decoding and encoding in OpenCV release the GIL, so a few threads hide most of their cost
behind the model that runs on the main thread. :func:`ordered_map` keeps results in input order
and never holds more than ``ahead`` of them, so memory stays bounded on long clips.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    function: Callable[[T], R], items: Iterable[T], threads: int = 2, ahead: int = 8
) -> Iterator[R]:
    """``map(function, items)`` on ``threads`` threads, in order, at most ``ahead`` in flight."""
    if threads <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class BackgroundTasks:
    """Side work (writing files) on threads while the caller computes; errors are re-raised.

    At most ``limit`` tasks wait at once (the caller blocks on the oldest), and leaving the
    ``with`` block waits for all of them.
    """

    def __init__(self, threads: int = 1, limit: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max(threads, 1))
        self._pending: deque[Future[object]] = deque()
        self._limit = limit

    def submit(self, function: Callable[..., object], *args: object) -> None:
        if len(self._pending) >= self._limit:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(function, *args))

    def __enter__(self) -> BackgroundTasks:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
