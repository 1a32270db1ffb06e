"""Exception classes of miniray, with Ray's names and hierarchy.

Code written against `ray.exceptions` catches the same classes here.
"""
from typing import Optional


class RayError(Exception):
    """Base class of every error miniray raises for a remote failure."""


class RaySystemError(RayError):
    """The runtime itself failed (for example the node went away)."""

    def __init__(self, client_exc, traceback_str: Optional[str] = None):
        self.client_exc = client_exc
        self.traceback_str = traceback_str
        super().__init__(client_exc)

    def __str__(self):
        msg = f"System error: {self.client_exc}"
        if self.traceback_str:
            msg += f"\ntraceback: {self.traceback_str}"
        return msg


class RayTaskError(RayError):
    """A task or actor method raised. `get` raises it as an instance of both
    RayTaskError and the original exception's class (see as_instanceof_cause),
    so `except ValueError:` catches a remote ValueError."""

    def __init__(self, function_name: str, traceback_str: str, cause: BaseException,
                 proctitle: Optional[str] = None, pid: Optional[int] = None,
                 ip: str = "127.0.0.1", actor_repr: Optional[str] = None,
                 actor_id: Optional[str] = None):
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.proctitle = proctitle or f"miniray::{function_name}()"
        self.pid = pid
        self.ip = ip
        self.actor_repr = actor_repr
        self.actor_id = actor_id
        # Exception.__init__ sets args, which picklers and reprs use.
        Exception.__init__(self, self._message())

    def _message(self) -> str:
        head = f"{_dual_name(type(self.cause))}: {self.proctitle} (pid={self.pid}, ip={self.ip})"
        if self.actor_repr:
            head += f", actor={self.actor_repr}"
        return head + "\n" + self.traceback_str.rstrip()

    def __str__(self):
        return self._message()

    def __reduce__(self):
        return (_rebuild_task_error, (self.function_name, self.traceback_str, self.cause,
                                      self.proctitle, self.pid, self.ip, self.actor_repr,
                                      self.actor_id))

    def as_instanceof_cause(self) -> "RayTaskError":
        """Returns an error that is both this RayTaskError and an instance of
        the cause's class, as Ray does; `self` if no such class can be made."""
        cause_cls = type(self.cause)
        if isinstance(self.cause, RayTaskError) or issubclass(RayTaskError, cause_cls):
            return self
        cls = _DUAL_CLASSES.get(cause_cls)
        if cls is None:
            try:
                cls = _make_dual_class(cause_cls)
            except TypeError:  # e.g. a final class or an incompatible layout
                return self
            _DUAL_CLASSES[cause_cls] = cls
        err = cls.__new__(cls)
        RayTaskError.__init__(err, self.function_name, self.traceback_str, self.cause,
                              self.proctitle, self.pid, self.ip, self.actor_repr, self.actor_id)
        return err


_DUAL_CLASSES: dict = {}


def _dual_name(cause_cls) -> str:
    return f"RayTaskError({cause_cls.__name__})"


def _make_dual_class(cause_cls):
    def __getattr__(self, name):
        # Attributes of the user's exception (e.g. e.code) read through.
        cause = self.__dict__.get("cause")
        if cause is None:
            raise AttributeError(name)
        return getattr(cause, name)

    return type(_dual_name(cause_cls), (RayTaskError, cause_cls), {
        "__init__": RayTaskError.__init__,
        "__getattr__": __getattr__,
        "__str__": RayTaskError.__str__,
        "__reduce__": RayTaskError.__reduce__,
        "__module__": __name__,
    })


def _rebuild_task_error(*args):
    return RayTaskError(*args)


class RayActorError(RayError):
    """The actor died or is unreachable."""

    def __init__(self, cause=None, error_msg: Optional[str] = None, actor_id=None):
        self.actor_id = actor_id
        self.error_msg = error_msg or (str(cause) if cause else "The actor died unexpectedly.")
        super().__init__(self.error_msg)


class ActorDiedError(RayActorError):
    """The actor is dead: killed, its process exited, or its constructor failed."""


class ActorUnavailableError(RayActorError):
    """The actor is temporarily unreachable."""


class WorkerCrashedError(RayError):
    """The worker process running the task died."""

    def __init__(self, message: str = "The worker died unexpectedly while executing this task."):
        super().__init__(message)


class TaskCancelledError(RayError):
    """The task was cancelled."""


class GetTimeoutError(RayError, TimeoutError):
    """`get` or `wait` ran past its timeout."""


class ObjectStoreFullError(RayError):
    """The shared-memory object store has no room for the object."""


class OutOfMemoryError(RayError):
    """The node ran out of memory."""


class ObjectLostError(RayError):
    """The object's value is gone."""

    def __init__(self, object_ref_hex: str = "", message: str = ""):
        self.object_ref_hex = object_ref_hex
        super().__init__(message or f"Object {object_ref_hex} is lost.")

    def __reduce__(self):  # stored in an object and raised elsewhere: keep both parts
        return (type(self), (self.object_ref_hex, str(self)))


class ObjectFreedError(ObjectLostError):
    """The object was freed while still needed."""


class OwnerDiedError(ObjectLostError):
    """The process that owned the object died."""


class RuntimeEnvSetupError(RayError):
    """The runtime environment could not be set up."""


class PendingCallsLimitExceeded(RayError):
    """Too many calls are queued on the actor."""


class TaskUnschedulableError(RayError):
    """The task can never be scheduled (e.g. a hard affinity to a node that
    is not in the cluster)."""


class ActorUnschedulableError(RayError):
    """The actor can never be scheduled (e.g. a hard affinity to a node that
    is not in the cluster)."""


__all__ = [
    "RayError", "RaySystemError", "RayTaskError", "RayActorError", "ActorDiedError",
    "ActorUnavailableError", "WorkerCrashedError", "TaskCancelledError", "GetTimeoutError",
    "ObjectStoreFullError", "OutOfMemoryError", "ObjectLostError", "ObjectFreedError",
    "OwnerDiedError", "RuntimeEnvSetupError", "PendingCallsLimitExceeded",
    "TaskUnschedulableError", "ActorUnschedulableError",
]
