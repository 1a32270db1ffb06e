"""Runs tasks, actor constructors and actor methods in a worker process and
reports their results to the node."""
import asyncio
import inspect
import json
import os
import sys
import traceback
from typing import Any, Dict, List

import _miniray_core
import cloudpickle
from _miniray_core import rpc

from miniray import exceptions
from miniray._private import generator as generator_mod
from miniray._private import runtime_env, serialization
from miniray.actor import ActorExitSignal, exit_actor
from miniray._private.remote_function import ArgRef


class TaskCancelledInterrupt(KeyboardInterrupt):
    """Raised inside a running task by miniray.cancel() (as Ray raises
    KeyboardInterrupt), so `except Exception` in user code does not stop it."""


# The task whose user code the main thread is running: only there may a
# cancel signal interrupt (never in the middle of reporting a result).
_interruptible_task = None


def on_cancel_signal(w):
    """The SIGUSR2 handler of a worker process (see worker_main). The
    CoreWorker sends it after recording a cancel request, so a request for
    the running task is there to take. A task that has not started yet
    takes its request at the start instead (see execute_task)."""
    def handler(signum, frame):
        task_id = _interruptible_task
        if task_id is not None and w.core.take_cancel_request(task_id):
            raise TaskCancelledInterrupt()
    return handler


_NORMAL_TASK = rpc.TaskType.NORMAL_TASK
_ACTOR_CREATION_TASK = rpc.TaskType.ACTOR_CREATION_TASK


class Task:
    """One rpc.ExecuteTaskRequest from the node (see CoreWorker.next_task),
    with its fields read once and its argument values mapped."""

    __slots__ = ("spec", "task_id", "name", "function_id", "blob", "arg_values",
                 "return_ids", "gpu_ids", "runtime_env", "actor_id", "actor_creation",
                 "method_name", "capture_group", "generator")

    def __init__(self, core, request):
        spec = self.spec = request.task_spec
        # One call for the fields every task needs, rather than one per field.
        (self.task_id, self.name, self.function_id, self.blob, num_returns, self.runtime_env,
         task_type, self.actor_id, self.method_name, pg, capture, self.generator) = spec.fields(
            "task_id", "name", "function_id", "args", "num_returns", "runtime_env", "type",
            "actor_id", "method_name", "placement_group_id",
            "placement_group_capture_child_tasks", "generator")
        self.capture_group = pg if capture else None
        self.arg_values = core.take_args(request)
        self.return_ids = _miniray_core.return_ids(self.task_id, num_returns)
        self.gpu_ids = request.gpu_ids
        self.actor_creation = task_type == _ACTOR_CREATION_TASK
        if task_type == _NORMAL_TASK:
            self.actor_id = None

    @property
    def env(self) -> dict:
        """The task's runtime_env. Read where a bad one fails the task (not
        the worker, which would then fail each retry in turn)."""
        if not self.runtime_env:
            return {}
        try:
            env = json.loads(self.runtime_env)
        except ValueError as e:
            raise ValueError(f"the task's runtime_env is not valid JSON: {e}") from None
        if not isinstance(env, dict):
            raise ValueError("the task's runtime_env is not a JSON object")
        return env


def load_function(w, function_id: bytes):
    fn = w.function_cache.get(function_id)
    if fn is None:
        pickled = w.core.kv_get("fn:" + function_id.hex())
        if pickled is None:
            raise RuntimeError(f"function {function_id.hex()} was never exported")
        fn = cloudpickle.loads(pickled)
        w.function_cache[function_id] = fn
    return fn


def _resolve(value, dep_values):
    return dep_values[value.index] if isinstance(value, ArgRef) else value


def decode_args(blob: bytes, arg_values: List[Any]):
    """(args, kwargs) with top-level dependencies substituted. Raises the
    error a failed dependency holds."""
    deps = [serialization.deserialize_value(v) for v in arg_values]
    if blob[:1] == bytes((serialization.ARGS_IN_OBJECT,)):
        deps, (args, kwargs) = deps[:-1], deps[-1]
    else:
        _, (args, kwargs) = serialization.deserialize(blob)
    if deps:
        args = tuple(_resolve(a, deps) for a in args)
        kwargs = {k: _resolve(v, deps) for k, v in kwargs.items()}
    return args, kwargs


def encode_return(w, return_id: bytes, value, kind=serialization.PICKLE):
    """The fields of an rpc.ObjectValue for TaskResult.returns: inline bytes,
    or, for a large value written into shared memory now, no value (the
    CoreWorker fills in where it lies)."""
    sv = serialization.serialize(value, kind)
    # Dicts become the ObjectValues inside the TaskResult (no copy between).
    if sv.total_size <= serialization.INLINE_LIMIT:
        return {"object_id": return_id, "inline_data": sv.to_bytes(), "contained": sv.contained}
    buf = w.core.create(return_id, sv.total_size)
    sv.write_to(memoryview(buf))
    return {"object_id": return_id, "contained": sv.contained}


def error_returns(task: "Task", error: BaseException):
    """Each return holds the same serialized error."""
    payload = serialization.serialize(error, serialization.TASK_ERROR).to_bytes()
    return [{"object_id": rid, "inline_data": payload} for rid in task.return_ids]


# miniray's own frames (the executor calling the task, get() raising a
# nested task's error) are left out of tracebacks, as Ray leaves out its own.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_traceback(exc: BaseException) -> str:
    """The traceback of what a task raised, with the user's frames only:
    file, line and source text of each (chained exceptions included)."""
    top = traceback.TracebackException.from_exception(exc)
    seen = set()
    pending = [top]
    while pending:
        te = pending.pop()
        if te is None or id(te) in seen:
            continue
        seen.add(id(te))
        user = [f for f in te.stack if not f.filename.startswith(_PACKAGE_DIR)]
        if user:  # an error inside miniray itself keeps every frame
            te.stack = traceback.StackSummary.from_list(user)
        pending += [te.__cause__, te.__context__]
    return "".join(top.format())


def task_error(w, name: str, exc: BaseException) -> exceptions.RayTaskError:
    """Wraps what a task raised, keeping the original exception as the cause
    and the remote traceback in the message."""
    tb = user_traceback(exc)
    actor_repr = None
    if w.actor_instance is not None:
        actor_repr = f"{type(w.actor_instance).__name__}({w.actor_id.hex()[:8]})"
    if isinstance(exc, exceptions.RayTaskError):
        # Raised by a nested get: keep the innermost cause, both tracebacks.
        return exceptions.RayTaskError(name, tb, exc.cause, pid=os.getpid(),
                                       actor_repr=actor_repr)
    try:
        serialization.dumps(exc)
        cause = exc
    except Exception:  # noqa: BLE001 - unpicklable exception
        cause = exceptions.RayError(f"{type(exc).__name__}: {exc}")
    return exceptions.RayTaskError(name, tb, cause, pid=os.getpid(), actor_repr=actor_repr)


def _begin(w, task: Task):
    w.set_current_task(task.task_id, task.name, task.gpu_ids, task.spec, task.capture_group)
    if w.log_names is not None:
        w.log_names.task(task.name)  # what the driver prefixes output with
    if task.gpu_ids:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in task.gpu_ids)


def _end(w):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    w.set_current_task()


def _prepare(w, task: Task):
    """The callable and arguments of a plain task or an actor method."""
    args, kwargs = decode_args(task.blob, task.arg_values)
    task.arg_values = None
    if task.actor_id:
        if task.method_name == "__ray_terminate__":
            return exit_actor, (), {}
        if task.method_name == "__ray_ready__":  # as Ray: True once constructed
            return _ready, (), {}
        return getattr(w.actor_instance, task.method_name), args, kwargs
    return load_function(w, task.function_id), args, kwargs


def _finish(w, task: Task, result) -> None:
    n = len(task.return_ids)
    if n == 1:
        outputs = [result]
    elif n == 0:
        outputs = []
    else:
        outputs = list(result)
        if len(outputs) != n:
            raise ValueError(f"Task returned {len(outputs)} objects, but num_returns={n}.")
    returns = [encode_return(w, rid, out) for rid, out in zip(task.return_ids, outputs)]
    w.core.task_done({"task_id": task.task_id, "returns": returns})


def _fail(w, task: Task, exc: BaseException) -> None:
    if isinstance(exc, exceptions.RuntimeEnvSetupError):  # raised as it is, not retried
        w.core.task_done({"task_id": task.task_id, "returns": error_returns(task, exc)})
        return
    if isinstance(exc, ActorExitSignal):
        # exit_actor(): the process ends after this call, which (as in Ray)
        # fails with ActorDiedError like every later one.
        died = exceptions.ActorDiedError(
            error_msg=f"The actor exited on purpose: {task.name} called exit_actor().",
            actor_id=w.actor_id.hex() if w.actor_id else None)
        w.core.task_done({"task_id": task.task_id, "actor_exiting": True,
                          "returns": error_returns(task, died)})
        _end(w)
        os._exit(0)
    # The node retries an application error only if the task allows it; a
    # retry_exceptions list narrows that to the listed classes.
    allowlist = task.spec.serialized_retry_exception_allowlist
    retry_allowed = not allowlist or isinstance(exc, cloudpickle.loads(allowlist))
    w.core.task_done({"task_id": task.task_id, "application_error": True,
                      "retry_allowed": retry_allowed,
                      "returns": error_returns(task, task_error(w, task.name, exc))})


def create_actor(w, task: Task):
    """Runs an actor's constructor; returns its rpc.ActorCreationTaskSpec
    (how many calls may run at once, and whether on an event loop)."""
    _begin(w, task)
    try:
        runtime_env.Applied(task.env).__enter__()  # for the actor's whole life
        cls = load_function(w, task.function_id)
        args, kwargs = decode_args(task.blob, task.arg_values)
        task.arg_values = None
        w.actor_id = task.actor_id  # get_runtime_context() works in __init__
        w.actor_creation = task.spec.actor_creation_task_spec
        w.actor_capture_group = task.capture_group
        w.actor_instance = cls(*args, **kwargs)
        w.core.task_done({"task_id": task.task_id})
    except BaseException as exc:  # noqa: BLE001 - the actor dies with this cause
        w.actor_instance = None
        err = task_error(w, task.name, exc)
        w.core.task_done({"task_id": task.task_id, "application_error": True,
                          "creation_error": str(err)})
    finally:
        _end(w)
    return task.spec.actor_creation_task_spec


def execute_task(w, task: Task) -> None:
    """Runs a plain task or a synchronous actor method."""
    global _interruptible_task
    _begin(w, task)
    try:
        # The environment first: the function may come from its py_modules.
        with runtime_env.Applied(task.env):
            fn, args, kwargs = _prepare(w, task)
            if not task.actor_id:
                _interruptible_task = task.task_id
            try:
                # A cancel that arrived before the task was interruptible.
                if w.core.take_cancel_request(task.task_id):
                    raise TaskCancelledInterrupt()
                result = fn(*args, **kwargs)
                if task.generator:  # its items, put as it yields them (cancel stops it)
                    result = generator_mod.completion_value(
                        _stream(w, task, result), task.generator)
            finally:
                _interruptible_task = None
        del args, kwargs
        # An actor call is not interrupted (as in Ray, the method may look
        # at get_runtime_context().is_canceled()); cancelled while it ran,
        # it still ends as cancelled.
        if task.actor_id and w.core.take_cancel_request(task.task_id):
            raise TaskCancelledInterrupt()
        if inspect.iscoroutine(result):  # an async method on a sync actor
            result = asyncio.run(_awaited(result))
        _finish(w, task, result)
    except TaskCancelledInterrupt:
        cancelled = exceptions.TaskCancelledError(f"Task '{task.name}' was cancelled.")
        w.core.task_done({"task_id": task.task_id, "returns": error_returns(task, cancelled)})
    except BaseException as exc:  # noqa: BLE001 - the task's failure is its result
        if isinstance(exc, (KeyboardInterrupt, SystemExit)) and not task.actor_id:
            raise
        _fail(w, task, exc)
    finally:
        w.core.take_cancel_request(task.task_id)  # a request that came too late
        _end(w)


def _not_a_generator(task: Task, result) -> TypeError:
    return TypeError(f"{task.name}() has num_returns='streaming' or 'dynamic' but returned "
                     f"{type(result).__name__}, not a generator")


def _stream(w, task: Task, result) -> list:
    """Puts each item a generator task yields; an exception it raises
    becomes one last item, holding the error (see generator.py)."""
    if not inspect.isgenerator(result):
        raise _not_a_generator(task, result)
    refs = []
    try:
        for value in result:
            _put_item(w, task, refs, value)
    except TaskCancelledInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the error is the last item
        _put_item(w, task, refs, task_error(w, task.name, exc), serialization.TASK_ERROR)
    return refs


async def _stream_async(w, task: Task, result) -> list:
    """_stream for an async generator (an async actor's method)."""
    if inspect.isgenerator(result):
        return _stream(w, task, result)
    if not inspect.isasyncgen(result):
        raise _not_a_generator(task, result)
    refs = []
    try:
        async for value in result:
            _put_item(w, task, refs, value)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # noqa: BLE001 - the error is the last item
        _put_item(w, task, refs, task_error(w, task.name, exc), serialization.TASK_ERROR)
    return refs


def _put_item(w, task: Task, refs: list, value, kind: int = serialization.PICKLE) -> None:
    refs.append(generator_mod.store_item(w, task.task_id, len(refs), value, kind))


def _ready() -> bool:
    return True


async def _awaited(result):
    return await result


# The calls running on an async actor's event loop, by task id, for
# cancel_async_call (which the watcher thread of worker_main calls).
_async_calls: Dict[bytes, "asyncio.Task"] = {}


def cancel_async_call(loop, task_id: bytes) -> None:
    """miniray.cancel of a call running on an async actor: the call's
    asyncio task is cancelled (CancelledError at its current await), as in
    Ray; it then ends with TaskCancelledError and the actor lives on."""
    running = _async_calls.get(task_id)
    if running is not None:
        loop.call_soon_threadsafe(running.cancel)


async def execute_task_async(w, task: Task) -> None:
    """Runs an actor method on the actor's event loop (async actors)."""
    _begin(w, task)
    _async_calls[task.task_id] = asyncio.current_task()
    try:
        if w.core.take_cancel_request(task.task_id):  # cancelled before it started
            raise asyncio.CancelledError()
        fn, args, kwargs = _prepare(w, task)
        result = fn(*args, **kwargs)
        if task.generator:
            result = generator_mod.completion_value(await _stream_async(w, task, result),
                                                    task.generator)
        elif inspect.iscoroutine(result):  # (an ObjectRef is awaitable, but returned as is)
            result = await result
        _finish(w, task, result)
    except asyncio.CancelledError:
        w.core.take_cancel_request(task.task_id)
        cancelled = exceptions.TaskCancelledError(f"Task '{task.name}' was cancelled.")
        w.core.task_done({"task_id": task.task_id, "returns": error_returns(task, cancelled)})
    except BaseException as exc:  # noqa: BLE001
        _fail(w, task, exc)
    finally:
        _async_calls.pop(task.task_id, None)
        w.core.take_cancel_request(task.task_id)  # a request that came too late
        _end(w)
