"""ActorPool: spread work over a fixed set of actors (as ray.util.ActorPool).

    pool = ActorPool([Worker.remote() for _ in range(4)])
    results = list(pool.map(lambda actor, v: actor.double.remote(v), range(10)))

Each actor runs one submitted call at a time; calls beyond the number of
idle actors wait in the pool and are submitted as actors free up.
"""
from typing import Any, Callable, Iterable, List, Optional

import miniray


class ActorPool:
    """Runs work on a fixed set of actors, one piece per actor at a time.

    Args:
        actors: the actor handles to use (the pool owns them while it runs).

    Example:
        pool = ActorPool([Doubler.remote(), Doubler.remote()])
        list(pool.map(lambda a, v: a.double.remote(v), [1, 2, 3]))  # [2, 4, 6]
    """

    def __init__(self, actors: List[Any]):
        self._idle = list(actors)
        self._by_ref = {}        # ObjectRef -> (submission index, actor)
        self._by_index = {}      # submission index -> ObjectRef
        self._next_index = 0     # index of the next submission
        self._next_ordered = 0   # index get_next() returns next
        self._backlog = []       # (fn, value) waiting for an idle actor

    def submit(self, fn: Callable[[Any, Any], "miniray.ObjectRef"], value: Any) -> None:
        """Schedules fn(actor, value) on an idle actor, or once one is free.

        Args:
            fn: takes an actor and the value, calls a method with
                `.remote()` and returns its ObjectRef.
            value: what to pass to fn.
        """
        if not self._idle:
            self._backlog.append((fn, value))
            return
        actor = self._idle.pop()
        ref = fn(actor, value)
        self._by_ref[ref] = (self._next_index, actor)
        self._by_index[self._next_index] = ref
        self._next_index += 1

    def has_next(self) -> bool:
        """Whether any submitted result is still to be collected."""
        return bool(self._by_ref)

    def get_next(self, timeout: Optional[float] = None, ignore_if_timedout: bool = False) -> Any:
        """The next result, in submission order.

        Args:
            timeout: seconds to wait at most (default: for ever).
            ignore_if_timedout: on a timeout, drop that result for good.

        Raises:
            StopIteration: nothing was submitted that is not collected.
            TimeoutError: the result was not ready within `timeout`.
            ValueError: get_next_unordered() was used before.
        """
        if not self.has_next():
            raise StopIteration("No more results to get")
        if self._next_ordered not in self._by_index:
            raise ValueError("It is not allowed to call get_next() after get_next_unordered().")
        ref = self._by_index[self._next_ordered]
        if timeout is not None:
            ready, _ = miniray.wait([ref], timeout=timeout)
            if not ready:
                if not ignore_if_timedout:
                    raise TimeoutError("Timed out waiting for result")
                self._collect(ref)
                raise TimeoutError(f"Timed out waiting for result. The task {ref} has been ignored.")
        self._collect(ref)
        return miniray.get(ref)

    def get_next_unordered(self, timeout: Optional[float] = None,
                           ignore_if_timedout: bool = False) -> Any:
        """Whichever submitted result is ready first (arguments and errors as
        get_next)."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        ready, _ = miniray.wait(list(self._by_ref), num_returns=1, timeout=timeout)
        if not ready:
            raise TimeoutError("Timed out waiting for result")
        ref = ready[0]
        self._collect(ref)
        return miniray.get(ref)

    def _collect(self, ref) -> None:
        index, actor = self._by_ref.pop(ref)
        del self._by_index[index]
        self._next_ordered = max(self._next_ordered, index + 1)
        self._return_actor(actor)

    def _return_actor(self, actor) -> None:
        self._idle.append(actor)
        if self._backlog:
            self.submit(*self._backlog.pop(0))

    def map(self, fn: Callable, values: Iterable[Any]) -> Iterable[Any]:
        """Results of fn(actor, v) for each value, in order.

        Args:
            fn: as in submit().
            values: the values to process.

        Returns:
            A generator of results, in the order of `values`.
        """
        self._drain()
        for v in values:
            self.submit(fn, v)
        while self.has_next():
            yield self.get_next()

    def map_unordered(self, fn: Callable, values: Iterable[Any]) -> Iterable[Any]:
        """Results of fn(actor, v) for each value, as they finish."""
        self._drain()
        for v in values:
            self.submit(fn, v)
        while self.has_next():
            yield self.get_next_unordered()

    def _drain(self) -> None:
        # Results of earlier submissions are dropped, as Ray's map does.
        while self.has_next():
            self.get_next_unordered()

    def has_free(self) -> bool:
        """Whether an actor is idle and nothing waits for one."""
        return bool(self._idle) and not self._backlog

    def pop_idle(self) -> Optional[Any]:
        """Removes and returns an idle actor, or None."""
        return self._idle.pop() if self.has_free() else None

    def push(self, actor) -> None:
        """Adds an actor to the pool."""
        busy = [a for _, a in self._by_ref.values()]
        if actor in self._idle or actor in busy:
            raise ValueError("Actor already belongs to current ActorPool")
        self._return_actor(actor)
