"""Generator tasks (as Ray's): a task or actor method that yields.

    @miniray.remote
    def produce(n):
        for i in range(n):
            yield i

    for ref in produce.remote(3):   # an ObjectRefGenerator
        print(miniray.get(ref))     # 0, 1, 2, each as soon as it is yielded

How it travels. A generator task has one return, its completion (index 1
of its task id), and its items follow: item i is the object with index
2 + i. The worker puts each item as it is yielded (an exception raised by
the generator becomes one last item that holds the error), then returns,
as the completion, the list of the items' refs, which keeps them alive.
The caller's ObjectRefGenerator asks the node to expect the next item
(ExpectObjects: an id that does not exist yet is pending, not lost) and
waits for it or for the completion, whichever comes first.

num_returns="streaming" (the default for a generator function) returns the
ObjectRefGenerator; num_returns="dynamic" returns one ObjectRef whose value,
once the task finished, is a DynamicObjectRefGenerator of the items' refs.
"""
import asyncio
import inspect
from typing import Any, Iterator, List, Optional

import _miniray_core

from miniray import exceptions
from miniray._private.object_ref import ObjectRef
from miniray._private.worker_state import global_worker

NOT_A_GENERATOR = 0
STREAMING = 1
DYNAMIC = 2


def is_generator_function(function: Any) -> bool:
    return inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)


def generator_kind(num_returns: Any, is_generator: bool) -> int:
    """What num_returns makes of the returns of a function (a generator
    function or not)."""
    if num_returns == "streaming":
        return STREAMING
    if num_returns == "dynamic":
        return DYNAMIC
    if num_returns is None and is_generator:
        return STREAMING  # as Ray 2.x: a generator function streams by default
    return NOT_A_GENERATOR


def item_id(task_id: bytes, index: int) -> bytes:
    return _miniray_core.task_return_id(task_id, index + 2)


class ObjectRefGenerator:
    """The ObjectRefs of a generator task's items, in order, each as soon as
    the task has yielded it (iterate it, or `async for` it)."""

    def __init__(self, completion: ObjectRef, task_id: bytes):
        self._completion = completion
        self._task_id = task_id
        self._index = 0
        self._count: Optional[int] = None  # known once the task has finished
        self._failed = False

    def __iter__(self) -> Iterator[ObjectRef]:
        return self

    def __next__(self) -> ObjectRef:
        return self._next(None)

    def __aiter__(self):
        return self

    async def __anext__(self) -> ObjectRef:
        # StopIteration cannot cross into an asyncio future: a sentinel does.
        item = await asyncio.get_running_loop().run_in_executor(None, self._next_or_none)
        if item is None:
            raise StopAsyncIteration
        return item

    def _next_or_none(self) -> Optional[ObjectRef]:
        try:
            return self._next(None)
        except StopIteration:
            return None

    def completed(self) -> ObjectRef:
        """An ObjectRef ready once the task has finished."""
        return self._completion

    def _next(self, timeout: Optional[float]) -> ObjectRef:
        """The next item's ref; GetTimeoutError after `timeout` seconds."""
        if self._failed or (self._count is not None and self._index >= self._count):
            raise StopIteration
        core = global_worker.core
        item = self._expect_next(core)
        flags = core.wait([item._id, self._completion._id], 1,
                          -1.0 if timeout is None else float(timeout))
        if not flags[0] and not flags[1]:
            raise exceptions.GetTimeoutError(f"no item within {timeout} s")
        if not flags[0] and self._count is None:
            try:
                self._count = len(_completion_items(self._completion))
            except exceptions.RayError:
                # The task failed outside the generator (its worker died):
                # the completion holds why; hand it out once, then stop.
                self._failed = True
                return self._completion
        if flags[0] or self._index < self._count:
            self._index += 1
            return item
        raise StopIteration

    def _expect_next(self, core) -> ObjectRef:
        oid = item_id(self._task_id, self._index)
        core.expect_object(oid)
        return ObjectRef(oid, core)

    def _ready_now(self) -> bool:
        """Whether next() would return at once (for wait())."""
        if self._failed or (self._count is not None and self._index >= self._count):
            return True
        core = global_worker.core
        item = self._expect_next(core)
        flags = core.wait([item._id, self._completion._id], 1, 0.0)
        return bool(flags[0] or flags[1])

    def __repr__(self):
        return f"ObjectRefGenerator({self._task_id.hex()}, next={self._index})"


class DynamicObjectRefGenerator:
    """num_returns="dynamic": the value of the task's ref, once it finished:
    the items' ObjectRefs."""

    def __init__(self, refs: List[ObjectRef]):
        self._refs = refs

    def __iter__(self) -> Iterator[ObjectRef]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)


def _completion_items(completion: ObjectRef) -> List[ObjectRef]:
    from miniray._private import worker as worker_mod
    value = worker_mod.get(completion)
    return list(value)


# --- the worker's side ------------------------------------------------------

def store_item(w, task_id: bytes, index: int, value: Any, kind: int) -> ObjectRef:
    from miniray._private import serialization
    from miniray._private import worker as worker_mod
    return worker_mod.store_value(w, item_id(task_id, index),
                                  serialization.serialize(value, kind))


def completion_value(refs: List[ObjectRef], generator: int) -> Any:
    return DynamicObjectRefGenerator(refs) if generator == DYNAMIC else refs


def wait_for_generators(objects: list, num_returns: int, timeout: Optional[float]):
    """wait() over ObjectRefs and ObjectRefGenerators (ready: its next item,
    or its end, is there). Polls, in slices, until enough are ready."""
    import time
    from miniray._private import worker as worker_mod
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        ready = []
        for obj in objects:
            if isinstance(obj, ObjectRefGenerator):
                is_ready = obj._ready_now()
            else:
                is_ready = bool(worker_mod.wait([obj], timeout=0)[0])
            if is_ready:
                ready.append(obj)
            if len(ready) >= num_returns:
                break
        if len(ready) >= num_returns or (deadline is not None and time.monotonic() >= deadline):
            return ready, [o for o in objects if not any(o is r for r in ready)]
        time.sleep(0.005)


__all__ = ["DynamicObjectRefGenerator", "ObjectRefGenerator"]
