"""How Python values become bytes for the object store, and back.

Format (the C++ core never looks inside):

    kind byte | body
    0 PICKLE        body = pickle
    1 PICKLE_OOB    body = u32 n, u64 pickle_len, u64 len[n], padding to 64,
                    pickle, then each out-of-band buffer 64-byte aligned
    2 TASK_ERROR    body = pickle of a RayTaskError

Pickle protocol 5 moves large buffers (numpy arrays, bytes-like payloads)
out of band: they are written once, straight into shared memory, and come
back as read-only views of it (zero copy). cloudpickle handles functions,
lambdas and classes defined in the driver's __main__ (`dumps` below: one
Pickler for values, task functions and actor classes).

ObjectRefs met while pickling are recorded: the object that contains them
keeps them alive (the node counts them as referenced by it).
"""
import io
import pickle
import struct
import threading
import types
from collections import ChainMap
from typing import Any, Callable, Dict, List, Optional, Tuple

import cloudpickle
from _miniray_core import Message, rpc

from miniray import exceptions

PICKLE = 0
PICKLE_OOB = 1
TASK_ERROR = 2
ARGS_IN_OBJECT = 3  # task args too large to inline: they are the last dependency

INLINE_LIMIT = 100 * 1024  # as Ray's max_direct_call_object_size
_ALIGN = 64
_PRIMITIVES = (int, float, str, bool, type(None), bytes)

_context = threading.local()


_cloudpickle_code_reduce = getattr(getattr(cloudpickle, "cloudpickle", None), "_code_reduce", None)


def _code_reduce(code: types.CodeType):
    """cloudpickle 3 writes "<dynamic-code>" as the file of every function
    it pickles by value (for a deterministic payload), so a task's traceback
    would show no file and no source line. Ray's own cloudpickle keeps the
    name, and so does this: the worker then finds the driver's source file
    (same machine, or the same path on another) for the traceback."""
    ctor, args = _cloudpickle_code_reduce(code)
    return ctor, tuple(code.co_filename if a == "<dynamic-code>" else a for a in args)


# Reducers registered with miniray.util.register_serializer, by class.
custom_reducers: Dict[type, Callable] = {}


class Pickler(cloudpickle.Pickler):
    """cloudpickle's Pickler, keeping code objects' file names, and using the
    serializers registered with miniray.util.register_serializer."""

    dispatch_table = ChainMap(
        custom_reducers,
        {types.CodeType: _code_reduce} if _cloudpickle_code_reduce is not None else {},
        cloudpickle.Pickler.dispatch_table)  # (cloudpickle 2 keeps file names itself)


def dumps(obj: Any, buffer_callback: Optional[Callable] = None) -> bytes:
    """cloudpickle.dumps(obj, protocol=5) with the Pickler above."""
    file = io.BytesIO()
    Pickler(file, protocol=5, buffer_callback=buffer_callback).dump(obj)
    return file.getvalue()


def pickle_code(obj: Any, what: str) -> bytes:
    """Pickles a remote function or actor class; a failure names it and the
    variable it captures that cannot be pickled (as Ray does)."""
    try:
        return dumps(obj)
    except Exception as e:  # noqa: BLE001 - any pickling failure is the user's code
        from miniray.util.check_serialize import unserializable_members
        name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
        culprits = [(n, v) for n, v in unserializable_members(obj, name) if n != name]
        where = ""
        if culprits:
            where = " It captures " + ", ".join(
                f"the variable '{n}' ({_describe(v)})" for n, v in culprits) + \
                ", which cannot be serialized."
        raise TypeError(f"Could not serialize the {what} '{name}': {type(e).__name__}: "
                        f"{e}.{where} Create such objects inside the {what} instead.") from e


def args_error(name: str, args, kwargs, error: Exception) -> TypeError:
    """The error for a call whose arguments cannot be pickled, naming the
    function and the argument (and what inside it is to blame)."""
    from miniray.util.check_serialize import unserializable_members
    labelled = [(f"args[{i}]", a) for i, a in enumerate(args)] + list(kwargs.items())
    for label, value in labelled:
        culprits = unserializable_members(value, label)
        if culprits:
            inner = [n for n, _ in culprits if n != label]
            inside = f", because of {', '.join(inner)}" if inner else ""
            return TypeError(f"Could not serialize the argument {label} of '{name}' "
                             f"({_describe(value)}){inside}: {error}")
    return TypeError(f"Could not serialize the arguments of '{name}': {error}")


def _contained_refs() -> Optional[list]:
    return getattr(_context, "refs", None)


def record_contained_ref(id_bytes: bytes) -> None:
    """Called by ObjectRef.__reduce__ while a value is being pickled."""
    refs = _contained_refs()
    if refs is not None:
        refs.append(id_bytes)


def _is_primitive(value, depth: int = 2) -> bool:
    """True for builtin scalars and small containers of them (two levels, so
    a task's (args, kwargs) qualifies): plain pickle handles those, and is
    several times faster than cloudpickle."""
    t = type(value)
    if t in _PRIMITIVES:
        return True
    if depth == 0:
        return False
    if t is tuple or t is list:
        return len(value) < 64 and all(_is_primitive(v, depth - 1) for v in value)
    if t is dict:
        return len(value) < 64 and all(
            type(k) in _PRIMITIVES and _is_primitive(v, depth - 1) for k, v in value.items())
    return False


class SerializedValue:
    """A value cut into a pickle and its out-of-band buffers."""

    __slots__ = ("kind", "pickled", "buffers", "contained", "total_size")

    def __init__(self, kind: int, pickled: bytes, buffers: List[pickle.PickleBuffer],
                 contained: List[bytes]):
        self.kind = kind
        self.pickled = pickled
        self.buffers = [b.raw() for b in buffers]
        self.contained = contained
        if buffers:
            self.total_size = _oob_layout(len(pickled), [len(b) for b in self.buffers])[-1]
        else:
            self.total_size = 1 + len(pickled)

    def to_bytes(self) -> bytes:
        if not self.buffers:
            return bytes((self.kind,)) + self.pickled
        out = bytearray(self.total_size)
        self.write_to(memoryview(out))
        return bytes(out)

    def write_to(self, dest: memoryview) -> None:
        """Writes the whole value into `dest` (total_size bytes)."""
        if not self.buffers:
            dest[0] = self.kind
            dest[1:1 + len(self.pickled)] = self.pickled
            return
        lens = [len(b) for b in self.buffers]
        offsets = _oob_layout(len(self.pickled), lens)
        header = struct.pack(f"<BIQ{len(lens)}Q", PICKLE_OOB, len(lens), len(self.pickled), *lens)
        dest[:len(header)] = header
        dest[offsets[0]:offsets[0] + len(self.pickled)] = self.pickled
        for buf, off in zip(self.buffers, offsets[1:-1]):
            dest[off:off + len(buf)] = buf


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _oob_layout(pickle_len: int, lens: List[int]) -> List[int]:
    """Offsets of the pickle and of each buffer, then the total size."""
    header = 1 + 4 + 8 + 8 * len(lens)
    pos = _align(header)
    offsets = [pos]
    pos = _align(pos + pickle_len)
    for n in lens:
        offsets.append(pos)
        pos = _align(pos + n)
    offsets.append(pos)
    return offsets


def serialize(value: Any, kind: int = PICKLE) -> SerializedValue:
    """Pickles `value`; raises TypeError naming the value if it cannot be."""
    if kind == PICKLE and _is_primitive(value):
        return SerializedValue(PICKLE, pickle.dumps(value, protocol=5), [], [])
    # Every buffer (numpy arrays, ...) goes out of band, small ones too: it
    # comes back as a read-only view of the message or of shared memory, so
    # each numpy array a task or get() receives is read-only, as in Ray.
    buffers: List[pickle.PickleBuffer] = []
    outer = _contained_refs()
    _context.refs = []
    try:
        pickled = dumps(value, buffers.append if kind == PICKLE else None)
        contained = _context.refs
    except Exception as e:  # noqa: BLE001 - any pickling failure is the user's value
        raise TypeError(
            f"Could not serialize {_describe(value)}: {type(e).__name__}: {e}") from e
    finally:
        _context.refs = outer
    return SerializedValue(PICKLE_OOB if buffers else kind, pickled, buffers, contained)


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} of type {type(value).__name__}"


def deserialize(data) -> Tuple[int, Any]:
    """(kind, value) from bytes or a shared-memory Buffer."""
    view = memoryview(data)
    kind = view[0]
    if kind != PICKLE_OOB:
        return kind, pickle.loads(view[1:])
    n, pickle_len = struct.unpack_from("<IQ", view, 1)
    lens = struct.unpack_from(f"<{n}Q", view, 13)
    offsets = _oob_layout(pickle_len, list(lens))
    buffers = [view[off:off + ln] for off, ln in zip(offsets[1:-1], lens)]
    return kind, pickle.loads(view[offsets[0]:offsets[0] + pickle_len], buffers=buffers)


# Errors the runtime stores in an object (rpc.ErrorType), as exceptions.
_ERROR_CLASSES = {
    rpc.ErrorType.WORKER_DIED: exceptions.WorkerCrashedError,
    rpc.ErrorType.TASK_CANCELLED: exceptions.TaskCancelledError,
    rpc.ErrorType.RUNTIME_ENV_SETUP_FAILED: exceptions.RuntimeEnvSetupError,
    rpc.ErrorType.OBJECT_STORE_FULL: exceptions.ObjectStoreFullError,
}


def error_to_exception(error: Message) -> BaseException:
    """The exception for an rpc.ObjectError the runtime stored."""
    if error.type == rpc.ErrorType.ACTOR_DIED:
        return exceptions.ActorDiedError(error_msg=error.message)
    cls = _ERROR_CLASSES.get(error.type)
    if cls is not None:
        return cls(error.message)
    return exceptions.ObjectLostError(message=error.message)


def deserialize_value(value) -> Any:
    """A value from a Get reply (bytes, a shared-memory Buffer, or the
    runtime's ObjectError); raises the error it holds, if any."""
    if isinstance(value, Message):
        raise error_to_exception(value)
    kind, obj = deserialize(value)
    if kind == TASK_ERROR:
        if isinstance(obj, exceptions.RayTaskError):
            raise obj.as_instanceof_cause()
        raise obj
    return obj
