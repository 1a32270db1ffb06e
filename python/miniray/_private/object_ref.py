"""ObjectRef: a handle to an object that exists, or will, in the object store.

Each live ObjectRef counts as one reference held by this process (the
CoreWorker tallies them and tells the node when the first appears and the
last goes), so an object is freed once no handle, pending task or containing
object refers to it.
"""
import asyncio
import concurrent.futures
import threading
from typing import Any, Generator, Generic, TypeVar

import _miniray_core

from miniray._private import serialization
from miniray._private.worker_state import global_worker

T = TypeVar("T")


class ObjectRef(Generic[T]):
    """A reference to a value of type T in the object store: get() returns
    the value, and it can be passed to tasks or awaited."""

    __slots__ = ("_id", "_core", "__weakref__")

    def __init__(self, id_bytes: bytes, core=None, *, borrowed: bool = False):
        """Wraps an id this process already counts (`core` set), or, with
        borrowed=True, one received from elsewhere (counted now)."""
        self._id = id_bytes
        self._core = core
        if borrowed and core is not None:
            core.add_borrowed_ref(id_bytes)

    def __del__(self):
        core = self._core
        if core is not None:
            try:
                core.remove_local_ref(self._id)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def binary(self) -> bytes:
        """The object's id, as bytes."""
        return self._id

    def hex(self) -> str:
        """The object's id, in hex."""
        return self._id.hex()

    def task_id(self) -> bytes:
        """The id of the task that creates this object (Ray: ObjectRef.task_id)."""
        return _miniray_core.task_id_of(self._id)

    def __hash__(self):
        return hash(self._id)

    def __eq__(self, other):
        return isinstance(other, ObjectRef) and other._id == self._id

    def __repr__(self):
        return f"ObjectRef({self.hex()})"

    def __reduce__(self):
        # Inside a value or task argument: the containing object keeps the
        # referenced object alive; the receiver counts a borrowed reference.
        serialization.record_contained_ref(self._id)
        return (_deserialize_ref, (self._id,))

    def future(self) -> "concurrent.futures.Future[T]":
        """A concurrent.futures.Future that resolves to the object's value."""
        fut: "concurrent.futures.Future[T]" = concurrent.futures.Future()

        def resolve():
            try:
                value = global_worker.core.get([self._id], -1.0)[0]
                fut.set_result(serialization.deserialize_value(value))
            except BaseException as e:  # noqa: BLE001 - handed to the future
                fut.set_exception(e)

        threading.Thread(target=resolve, daemon=True).start()
        return fut

    def __await__(self) -> Generator[Any, None, T]:
        return asyncio.wrap_future(self.future()).__await__()


def _deserialize_ref(id_bytes: bytes) -> ObjectRef:
    return ObjectRef(id_bytes, global_worker.core, borrowed=True)
