"""Produce batches ahead of the training loop in a background thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

from relgraph import cancel

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetcher(Generic[T]):
    """Iterate over ``batches`` while a background thread computes the next ``depth``.

    The sampler's kernels release the GIL (``nogil``), so sampling overlaps the
    model's forward/backward pass. An exception raised while producing a batch is
    re-raised in the consumer at the position it occurred. ``close()`` (or leaving
    a ``with`` block, or breaking out of the loop and dropping the prefetcher)
    stops the thread after at most the batch in progress.

    Example:
        >>> with Prefetcher(iter(range(3)), depth=2) as p:
        ...     list(p)
        [0, 1, 2]
    """

    def __init__(self, batches: Iterable[T], depth: int = 2) -> None:
        if depth < 1:
            raise ValueError(f"depth must be ≥ 1, got {depth}")
        self.depth = depth
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._source: Iterator[object] = iter(batches)
        self._finished = False
        self._thread = threading.Thread(
            target=Prefetcher._run,
            args=(self._source, self._queue, self._stop),
            name="relgraph-prefetch",
            daemon=True,
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"Prefetcher(depth={self.depth}, running={self._thread.is_alive()})"

    @staticmethod
    def _run(source: Iterator[object], q: queue.Queue[object], stop: threading.Event) -> None:
        # A static method on purpose: the thread must not hold ``self``, so a
        # consumer that drops the prefetcher lets ``__del__`` stop the thread.
        def put(item: object) -> bool:
            # Wake up now and then to notice close(): a full queue must not pin the thread.
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as e:  # re-raised in the consumer's thread
            put(_Failure(e))
            return
        put(_DONE)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        while True:
            try:
                item = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                # A slow batch (a first call compiles the sampler) must not hold off a
                # cancel: the job's thread waits here, so it checks here.
                cancel.check()
        if item is _DONE:
            self._finished = True
            self._thread.join()
            raise StopIteration
        if isinstance(item, _Failure):
            self._finished = True
            self._thread.join()
            raise item.exc
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the background thread and drop the batches it made ahead."""
        self._stop.set()
        self._finished = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=30)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
