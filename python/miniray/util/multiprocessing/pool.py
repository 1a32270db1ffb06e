"""Pool: multiprocessing.Pool's interface over miniray actors.

`processes` actors each run one piece of work at a time, as the processes
of a multiprocessing pool do. Work goes out in chunks (`chunksize` items
per actor call), round robin; results come back in order (imap_unordered:
as they finish). An exception raised by the function is raised by get(),
as the function's own exception class.
"""
import itertools
import math
import threading
from multiprocessing import TimeoutError
from typing import Any, Callable, Iterable, Iterator, List, Optional

import miniray


class _PoolActor:
    """One of the pool's "processes"."""

    def __init__(self, initializer, initargs):
        if initializer is not None:
            initializer(*initargs)

    def run_chunk(self, func, chunk, star):
        return [func(*item) if star else func(item) for item in chunk]


class AsyncResult:
    """What the *_async methods return (as multiprocessing's AsyncResult)."""

    def __init__(self, refs: List[Any], single: bool, callback=None, error_callback=None):
        self._refs = refs
        self._single = single
        self._value = None
        self._error: Optional[BaseException] = None
        self._done = threading.Event()
        threading.Thread(target=self._collect, args=(callback, error_callback),
                         daemon=True).start()

    def _collect(self, callback, error_callback):
        try:
            chunks = miniray.get(self._refs)
            values = [v for chunk in chunks for v in chunk]
            self._value = values[0] if self._single else values
        except BaseException as e:  # noqa: BLE001 - handed to get()
            self._error = e
        self._done.set()
        if self._error is None and callback is not None:
            callback(self._value)
        elif self._error is not None and error_callback is not None:
            error_callback(self._error)

    def get(self, timeout: Optional[float] = None) -> Any:
        """The result, waiting up to `timeout` seconds.

        Raises:
            multiprocessing.TimeoutError: not ready within `timeout`.
            The function's exception, if it raised.
        """
        if not self._done.wait(timeout):
            raise TimeoutError("the result is not ready")
        if self._error is not None:
            raise self._error
        return self._value

    def wait(self, timeout: Optional[float] = None) -> None:
        """Waits until the result is ready, or `timeout` seconds."""
        self._done.wait(timeout)

    def ready(self) -> bool:
        """Whether the result is ready."""
        return self._done.is_set()

    def successful(self) -> bool:
        """Whether it finished without an exception.

        Raises:
            ValueError: it is not ready yet.
        """
        if not self.ready():
            raise ValueError("the result is not ready")
        return self._error is None


class Pool:
    """multiprocessing.Pool on miniray.

    Args:
        processes: how many actors run work (default: the cluster's CPUs).
        initializer: called with `initargs` in each actor as it starts.
        initargs: arguments of initializer.
        maxtasksperchild, context: accepted for compatibility; no effect.
        ray_address: an address to init() miniray with, if it is not running.
        ray_remote_args: options of the pool's actors (see remote()).

    Raises:
        ValueError: processes < 1.
    """

    def __init__(self, processes: Optional[int] = None, initializer: Optional[Callable] = None,
                 initargs: tuple = (), maxtasksperchild: Optional[int] = None,
                 context: Any = None, ray_address: Optional[str] = None,
                 ray_remote_args: Optional[dict] = None):
        if not miniray.is_initialized():
            miniray.init(address=ray_address)
        if processes is None:
            processes = max(1, int(miniray.cluster_resources().get("CPU", 1)))
        if not isinstance(processes, int) or processes < 1:
            raise ValueError(f"processes must be an integer >= 1, got {processes!r}")
        actor_class = miniray.remote(_PoolActor)
        if ray_remote_args:
            actor_class = actor_class.options(**ray_remote_args)
        self._actors = [actor_class.remote(initializer, initargs) for _ in range(processes)]
        self._next = itertools.cycle(range(processes))
        self._running = True

    # --- submitting -------------------------------------------------------

    def _check_running(self):
        if not self._running:
            raise ValueError("Pool not running")

    def _submit(self, func, chunks, star) -> List[Any]:
        self._check_running()
        func_ref = miniray.put(func)  # shipped once, not once per chunk
        return [self._actors[next(self._next)].run_chunk.remote(func_ref, chunk, star)
                for chunk in chunks]

    def _chunks(self, iterable, chunksize) -> List[list]:
        items = list(iterable)
        if chunksize is None:
            chunksize = max(1, math.ceil(len(items) / (4 * len(self._actors))))
        if chunksize < 1:
            raise ValueError(f"chunksize must be >= 1, got {chunksize}")
        return [items[i:i + chunksize] for i in range(0, len(items), chunksize)]

    def apply(self, func: Callable, args: tuple = (), kwds: Optional[dict] = None) -> Any:
        """func(*args, **kwds) on one of the pool's actors; its result."""
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func: Callable, args: tuple = (), kwds: Optional[dict] = None,
                    callback: Optional[Callable] = None,
                    error_callback: Optional[Callable] = None) -> AsyncResult:
        """As apply(), without waiting: an AsyncResult (callbacks run in a
        thread of this process when it is ready)."""
        kwds = kwds or {}
        call = (lambda *a: func(*a, **kwds)) if kwds else func
        return AsyncResult(self._submit(call, [[tuple(args)]], True), True, callback,
                           error_callback)

    def map(self, func: Callable, iterable: Iterable, chunksize: Optional[int] = None) -> list:
        """[func(x) for x in iterable], computed by the pool, in order."""
        return self.map_async(func, iterable, chunksize).get()

    def map_async(self, func: Callable, iterable: Iterable, chunksize: Optional[int] = None,
                  callback: Optional[Callable] = None,
                  error_callback: Optional[Callable] = None) -> AsyncResult:
        """As map(), without waiting: an AsyncResult of the list."""
        return AsyncResult(self._submit(func, self._chunks(iterable, chunksize), False),
                           False, callback, error_callback)

    def starmap(self, func: Callable, iterable: Iterable, chunksize: Optional[int] = None
                ) -> list:
        """[func(*args) for args in iterable], in order."""
        return self.starmap_async(func, iterable, chunksize).get()

    def starmap_async(self, func: Callable, iterable: Iterable,
                      chunksize: Optional[int] = None, callback: Optional[Callable] = None,
                      error_callback: Optional[Callable] = None) -> AsyncResult:
        """As starmap(), without waiting."""
        return AsyncResult(self._submit(func, self._chunks(iterable, chunksize), True),
                           False, callback, error_callback)

    def imap(self, func: Callable, iterable: Iterable, chunksize: int = 1) -> Iterator:
        """func(x) for each x, in order, as an iterator (results are yielded
        as soon as they and the ones before them are ready)."""
        for ref in self._submit(func, self._chunks(iterable, chunksize), False):
            yield from miniray.get(ref)

    def imap_unordered(self, func: Callable, iterable: Iterable, chunksize: int = 1
                       ) -> Iterator:
        """func(x) for each x, in the order they finish."""
        pending = self._submit(func, self._chunks(iterable, chunksize), False)
        while pending:
            ready, pending = miniray.wait(pending, num_returns=1)
            yield from miniray.get(ready[0])

    # --- lifecycle --------------------------------------------------------

    def close(self) -> None:
        """No more work may be submitted; submitted work finishes."""
        self._running = False

    def terminate(self) -> None:
        """Stops the pool's actors at once (unfinished work fails)."""
        self._running = False
        for actor in self._actors:
            miniray.kill(actor)
        self._actors = []

    def join(self) -> None:
        """Waits for submitted work to finish (after close()), then stops
        the actors.

        Raises:
            ValueError: the pool is still running (call close() first).
        """
        if self._running:
            raise ValueError("Pool is still running")
        if self._actors:
            miniray.get([a.__ray_ready__.remote() for a in self._actors])
            for actor in self._actors:
                actor.__ray_terminate__.remote()
            self._actors = []

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        self.terminate()  # as multiprocessing.Pool's context manager


__all__ = ["AsyncResult", "Pool", "TimeoutError"]
