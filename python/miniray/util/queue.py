"""Queue: a first-in first-out queue shared by tasks and actors (as
ray.util.queue.Queue), kept by an async actor.

    q = Queue(maxsize=10)
    producer.remote(q); consumer.remote(q)     # pass it like any value
"""
import asyncio
import queue as _stdlib_queue
from typing import Any, List, Optional

import miniray


class Empty(_stdlib_queue.Empty):
    """get() found nothing (no wait, or the timeout passed)."""


class Full(_stdlib_queue.Full):
    """put() found no room (no wait, or the timeout passed)."""


class Queue:
    """A FIFO queue that tasks and actors share through its handle (as
    ray.util.queue.Queue); the items live in an actor.

    Args:
        maxsize: the most items it holds; 0 (default) for no limit.
        actor_options: options of the queue's actor (see remote()).

    Raises:
        ValueError: maxsize is not an integer >= 0.
    """

    def __init__(self, maxsize: int = 0, actor_options: Optional[dict] = None):
        if not isinstance(maxsize, int) or maxsize < 0:
            raise ValueError(f"maxsize must be an integer >= 0, got {maxsize!r}")
        self.maxsize = maxsize
        self.actor = _QueueActor.options(**(actor_options or {})).remote(maxsize)

    def __len__(self) -> int:
        return self.qsize()

    def size(self) -> int:
        """The number of items in the queue."""
        return self.qsize()

    def qsize(self) -> int:
        """The number of items in the queue."""
        return miniray.get(self.actor.qsize.remote())

    def empty(self) -> bool:
        """Whether the queue holds no item."""
        return miniray.get(self.actor.empty.remote())

    def full(self) -> bool:
        """Whether the queue holds maxsize items."""
        return miniray.get(self.actor.full.remote())

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Adds an item at the end.

        Args:
            item: any serializable value.
            block: wait for room if the queue is full.
            timeout: seconds to wait at most (default: for ever).

        Raises:
            Full: no room (at once if not `block`, else after `timeout`).
            ValueError: a negative timeout.
        """
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        if not block:
            if not miniray.get(self.actor.put_nowait.remote(item)):
                raise Full
            return
        if not miniray.get(self.actor.put.remote(item, timeout)):
            raise Full

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """Removes and returns the oldest item.

        Args:
            block: wait for an item if the queue is empty.
            timeout: seconds to wait at most (default: for ever).

        Raises:
            Empty: no item (at once if not `block`, else after `timeout`).
            ValueError: a negative timeout.
        """
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        found, item = miniray.get(
            self.actor.get_nowait.remote() if not block else self.actor.get.remote(timeout))
        if not found:
            raise Empty
        return item

    def put_nowait(self, item: Any) -> None:
        """put(item, block=False): raises Full at once if there is no room."""
        self.put(item, block=False)

    def get_nowait(self) -> Any:
        """get(block=False): raises Empty at once if there is no item."""
        return self.get(block=False)

    def put_nowait_batch(self, items: List[Any]) -> None:
        """Adds all of `items` or, if they do not all fit, none."""
        if not miniray.get(self.actor.put_nowait_batch.remote(list(items))):
            raise Full(f"Cannot add {len(items)} items to queue of size {self.qsize()} "
                       f"and maxsize {self.maxsize}.")

    def get_nowait_batch(self, num_items: int) -> List[Any]:
        """Removes `num_items` items, or none if fewer are there."""
        found, items = miniray.get(self.actor.get_nowait_batch.remote(num_items))
        if not found:
            raise Empty(f"Cannot get {num_items} items from queue of size {self.qsize()}.")
        return items

    def shutdown(self, force: bool = False, grace_period_s: int = 5) -> None:
        """Stops the queue's actor; its items are gone.

        Args:
            force: kill it at once instead of after the calls it has queued.
            grace_period_s: accepted for Ray compatibility.
        """
        if self.actor is not None:
            if force:
                miniray.kill(self.actor)
            else:
                self.actor.__ray_terminate__.remote()
        self.actor = None


@miniray.remote(num_cpus=0)
class _QueueActor:
    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self.queue = asyncio.Queue(maxsize)

    async def qsize(self):
        return self.queue.qsize()

    async def empty(self):
        return self.queue.empty()

    async def full(self):
        return self.queue.full()

    async def put(self, item, timeout=None):
        try:
            await asyncio.wait_for(self.queue.put(item), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def get(self, timeout=None):
        try:
            return True, await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return False, None

    async def put_nowait(self, item):
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            return False

    async def get_nowait(self):
        try:
            return True, self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return False, None

    async def put_nowait_batch(self, items):
        if self.maxsize > 0 and len(items) + self.queue.qsize() > self.maxsize:
            return False
        for item in items:
            self.queue.put_nowait(item)
        return True

    async def get_nowait_batch(self, num_items):
        if num_items > self.queue.qsize():
            return False, None
        return True, [self.queue.get_nowait() for _ in range(num_items)]
