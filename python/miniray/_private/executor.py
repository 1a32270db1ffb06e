"""Runs tasks, actor constructors and actor methods in a worker process and
reports their results to the node."""
import base64
import inspect
import json
import os
import sys
import time
import traceback
from typing import Any, List

import cloudpickle

from miniray import exceptions
from miniray._private import serialization
from miniray._private import worker as worker_mod
from miniray._private.remote_function import RETRY_TYPES_KEY, ArgRef


class TaskCancelledInterrupt(KeyboardInterrupt):
    """Raised inside a running task by miniray.cancel() (as Ray raises
    KeyboardInterrupt), so `except Exception` in user code does not stop it."""


# The task whose user code the main thread is running: only there may a
# cancel signal interrupt (never in the middle of reporting a result).
_interruptible_task = None


def on_cancel_signal(w):
    """The SIGUSR2 handler of a worker process (see worker_main)."""
    def handler(signum, frame):
        task_id = _interruptible_task
        if task_id is None:
            return
        # The request travels on the socket; the signal may overtake it.
        for _ in range(40):
            if w.core.take_cancel_request(task_id):
                raise TaskCancelledInterrupt()
            time.sleep(0.005)
    return handler


class Task:
    """One ExecuteTask from the node (see CoreWorker.next_task)."""

    __slots__ = ("task_id", "name", "function_id", "blob", "arg_values", "return_ids",
                 "gpu_ids", "env", "actor_id", "actor_creation")

    def __init__(self, raw):
        (self.task_id, self.name, self.function_id, self.blob, self.arg_values,
         self.return_ids, self.gpu_ids, runtime_env, self.actor_id,
         self.actor_creation) = raw
        self.env = json.loads(runtime_env) if runtime_env else {}


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
    deps = [worker_mod.deserialize_value(v) for v in arg_values]
    if blob[:1] == bytes((serialization.ARGS_IN_OBJECT,)):
        deps, (args, kwargs) = deps[:-1], deps[-1]
    else:
        _, (args, kwargs) = serialization.deserialize(blob)
    if deps:
        args = tuple(_resolve(a, deps) for a in args)
        kwargs = {k: _resolve(v, deps) for k, v in kwargs.items()}
    return args, kwargs


def encode_return(w, return_id: bytes, value, kind=serialization.PICKLE):
    """(id, bytes | None, contained) for task_done; large values are written
    into shared memory now (None marks them)."""
    sv = serialization.serialize(value, kind)
    if sv.total_size <= serialization.INLINE_LIMIT:
        return (return_id, sv.to_bytes(), sv.contained)
    buf = w.core.create(return_id, sv.total_size)
    sv.write_to(memoryview(buf))
    return (return_id, None, sv.contained)


def task_error(w, name: str, exc: BaseException) -> exceptions.RayTaskError:
    """Wraps what a task raised, keeping the original exception as the cause
    and the remote traceback in the message."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    actor_repr = None
    if w.actor_instance is not None:
        actor_repr = f"{type(w.actor_instance).__name__}({w.actor_id.hex()[:8]})"
    if isinstance(exc, exceptions.RayTaskError):
        # Raised by a nested get: keep the innermost cause, both tracebacks.
        return exceptions.RayTaskError(name, tb, exc.cause, pid=os.getpid(),
                                       actor_repr=actor_repr)
    try:
        cloudpickle.dumps(exc)
        cause = exc
    except Exception:  # noqa: BLE001 - unpicklable exception
        cause = exceptions.RayError(f"{type(exc).__name__}: {exc}")
    return exceptions.RayTaskError(name, tb, cause, pid=os.getpid(), actor_repr=actor_repr)


class _EnvVars:
    """Applies runtime_env env_vars while a task runs (or for good)."""

    def __init__(self, runtime_env: dict):
        self.env = runtime_env.get("env_vars", {})
        self.saved = {}

    def __enter__(self):
        for k, v in self.env.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = str(v)

    def __exit__(self, *exc):
        for k, old in self.saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


def _begin(w, task: Task):
    w.set_current_task(task.task_id, task.name, task.gpu_ids)
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
        method_name = task.name.rsplit(".", 1)[-1]
        if method_name == "__ray_terminate__":
            from miniray.actor import exit_actor
            return exit_actor, (), {}
        return getattr(w.actor_instance, method_name), args, kwargs
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
    w.core.task_done(task.task_id, False, returns)


def _fail(w, task: Task, exc: BaseException) -> None:
    from miniray.actor import ActorExitSignal
    if isinstance(exc, ActorExitSignal):
        # exit_actor(): the call succeeds with None, then the process ends.
        w.core.task_done(task.task_id, False,
                         [encode_return(w, rid, None) for rid in task.return_ids],
                         actor_exiting=True)
        _end(w)
        os._exit(0)
    err = task_error(w, task.name, exc)
    payload = serialization.serialize(err, serialization.TASK_ERROR).to_bytes()
    # The node retries an application error only if the task allows it; a
    # retry_exceptions list narrows that to the listed classes.
    retry_types = task.env.get(RETRY_TYPES_KEY)
    retryable = retry_types is None or isinstance(
        exc, cloudpickle.loads(base64.b64decode(retry_types)))
    w.core.task_done(task.task_id, retryable, [(rid, payload, []) for rid in task.return_ids])


def create_actor(w, task: Task) -> dict:
    """Runs an actor's constructor; returns its concurrency options."""
    from miniray.actor import ACTOR_OPTIONS_KEY
    _begin(w, task)
    env = dict(task.env)
    options = env.pop(ACTOR_OPTIONS_KEY, {})
    try:
        _EnvVars(env).__enter__()  # for the actor's whole life
        cls = load_function(w, task.function_id)
        args, kwargs = decode_args(task.blob, task.arg_values)
        task.arg_values = None
        w.actor_id = task.actor_id  # get_runtime_context() works in __init__
        w.actor_instance = cls(*args, **kwargs)
        w.core.task_done(task.task_id, False, [])
    except BaseException as exc:  # noqa: BLE001 - the actor dies with this cause
        w.actor_instance = None
        err = task_error(w, task.name, exc)
        w.core.task_done(task.task_id, True, [], error_message=str(err))
    finally:
        _end(w)
    return options


def execute_task(w, task: Task) -> None:
    """Runs a plain task or a synchronous actor method."""
    global _interruptible_task
    _begin(w, task)
    try:
        fn, args, kwargs = _prepare(w, task)
        with _EnvVars(task.env):
            if not task.actor_id:
                _interruptible_task = task.task_id
            try:
                result = fn(*args, **kwargs)
            finally:
                _interruptible_task = None
        del args, kwargs
        if inspect.isawaitable(result):  # an async method on a sync actor
            import asyncio
            result = asyncio.run(_awaited(result))
        _finish(w, task, result)
    except TaskCancelledInterrupt:
        payload = serialization.serialize(
            exceptions.TaskCancelledError(f"Task '{task.name}' was cancelled."),
            serialization.TASK_ERROR).to_bytes()
        w.core.task_done(task.task_id, False, [(rid, payload, []) for rid in task.return_ids])
    except BaseException as exc:  # noqa: BLE001 - the task's failure is its result
        if isinstance(exc, (KeyboardInterrupt, SystemExit)) and not task.actor_id:
            raise
        _fail(w, task, exc)
    finally:
        w.core.take_cancel_request(task.task_id)  # a request that came too late
        _end(w)


async def _awaited(result):
    return await result


async def execute_task_async(w, task: Task) -> None:
    """Runs an actor method on the actor's event loop (async actors)."""
    _begin(w, task)
    try:
        fn, args, kwargs = _prepare(w, task)
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        _finish(w, task, result)
    except BaseException as exc:  # noqa: BLE001
        _fail(w, task, exc)
    finally:
        _end(w)
