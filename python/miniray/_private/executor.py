"""Runs one task in a worker process and reports its results."""
import json
import os
import traceback
from typing import Any, List

import cloudpickle

from miniray import exceptions
from miniray._private import serialization
from miniray._private import worker as worker_mod
from miniray._private.remote_function import ArgRef


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


def task_error(name: str, exc: BaseException) -> exceptions.RayTaskError:
    """Wraps what a task raised, keeping the original exception as the cause
    and the remote traceback in the message."""
    if isinstance(exc, exceptions.RayTaskError):
        # Raised by a nested get: keep the innermost cause, both tracebacks.
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return exceptions.RayTaskError(name, tb, exc.cause, pid=os.getpid())
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        cloudpickle.dumps(exc)
        cause = exc
    except Exception:  # noqa: BLE001 - unpicklable exception
        cause = exceptions.RayError(f"{type(exc).__name__}: {exc}")
    return exceptions.RayTaskError(name, tb, cause, pid=os.getpid())


class _EnvVars:
    """Applies a task's runtime_env env_vars while it runs."""

    def __init__(self, runtime_env: str):
        self.env = json.loads(runtime_env).get("env_vars", {}) if runtime_env else {}
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


def execute_task(w, task) -> None:
    task_id, name, function_id, blob, arg_values, return_ids, gpu_ids, runtime_env = task
    w.current_task_id = task_id
    w.current_task_name = name
    w.current_gpu_ids = list(gpu_ids)
    if gpu_ids:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpu_ids)
    try:
        fn = load_function(w, function_id)
        args, kwargs = decode_args(blob, arg_values)
        del arg_values
        with _EnvVars(runtime_env):
            result = fn(*args, **kwargs)
        del args, kwargs
        n = len(return_ids)
        if n == 1:
            outputs = [result]
        elif n == 0:
            outputs = []
        else:
            outputs = list(result)
            if len(outputs) != n:
                raise ValueError(f"Task returned {len(outputs)} objects, but num_returns={n}.")
        returns = [encode_return(w, rid, out) for rid, out in zip(return_ids, outputs)]
        w.core.task_done(task_id, False, returns)
    except Exception as exc:  # noqa: BLE001 - the task's failure is its result
        err = task_error(name, exc)
        payload = serialization.serialize(err, serialization.TASK_ERROR).to_bytes()
        w.core.task_done(task_id, True, [(rid, payload, []) for rid in return_ids])
    finally:
        w.current_task_id = None
        try:
            import sys
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        w.current_task_name = None
