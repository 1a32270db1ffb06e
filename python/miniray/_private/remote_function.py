"""RemoteFunction: what @miniray.remote makes of a function.

`f.remote(*args)` serializes the arguments (top-level ObjectRefs become
dependencies the scheduler waits for; nested ones travel as references),
exports the function once per session (cloudpickle, keyed by a hash of its
bytes, fetched and cached by each worker), and submits a TaskSpec.
"""
import base64
import hashlib
import inspect
import json
import os
from typing import Any, Dict

import cloudpickle

from miniray._private import serialization
from miniray._private.object_ref import ObjectRef
from miniray._private import worker as worker_mod

# Options a task accepts, as Ray's remote function options.
TASK_OPTIONS = {
    "num_returns", "num_cpus", "num_gpus", "resources", "max_retries",
    "retry_exceptions", "name", "runtime_env", "memory", "scheduling_strategy",
    "accelerator_type", "max_calls", "_metadata", "label_selector",
}

DEFAULT_MAX_RETRIES = 3  # as Ray, for tasks (retried when a worker dies)


class ArgRef:
    """Stands in for a top-level ObjectRef argument in the pickled args: the
    worker replaces it by the i-th dependency's value."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def __reduce__(self):
        return (ArgRef, (self.index,))


def validate_options(options: Dict[str, Any], allowed, what: str) -> Dict[str, Any]:
    """Checks option names and values; returns them unchanged."""
    for key in options:
        if key not in allowed:
            raise ValueError(f"Invalid option keyword {key} for {what}. "
                             f"Valid ones are {sorted(allowed)}.")
    for key in ("num_cpus", "num_gpus", "memory"):
        if options.get(key) is not None:
            worker_mod._check_number(key, options[key], allow_none=False)
    if "num_returns" in options and options["num_returns"] is not None:
        n = options["num_returns"]
        if n in ("dynamic", "streaming"):
            raise ValueError(f"num_returns={n!r} (generator tasks) is not supported by "
                             "miniray yet; return a list and use an integer num_returns")
        worker_mod._check_number("num_returns", n, allow_none=False, integer=True)
    if options.get("max_retries") is not None:
        r = options["max_retries"]
        worker_mod._check_number("max_retries", r if r != -1 else 0, allow_none=False, integer=True)
    worker_mod.check_resources(options.get("resources"))
    rex = options.get("retry_exceptions")
    if rex is not None and not isinstance(rex, (bool, list, tuple)):
        raise TypeError("retry_exceptions must be a bool or a list of exception types")
    env = options.get("runtime_env")
    if env is not None and not isinstance(env, dict):
        raise TypeError("runtime_env must be a dict")
    return options


def resource_demand(options: Dict[str, Any], default_cpus: float) -> Dict[str, float]:
    demand = {}
    cpus = options.get("num_cpus")
    demand["CPU"] = float(default_cpus if cpus is None else cpus)
    if options.get("num_gpus"):
        demand["GPU"] = float(options["num_gpus"])
    if options.get("memory"):
        demand["memory"] = float(options["memory"])
    for k, v in (options.get("resources") or {}).items():
        demand[k] = float(v)
    return {k: v for k, v in demand.items() if v}


def export_function(w, pickled: bytes, function_id: bytes) -> None:
    if function_id not in w.exported_functions:
        w.core.kv_put("fn:" + function_id.hex(), pickled, False)
        w.exported_functions.add(function_id)


def serialize_args(w, args, kwargs):
    """(args blob, dependency ids, contained ids, keep-alive refs)."""
    deps = []
    keep = []
    if any(isinstance(a, ObjectRef) for a in args) or any(
            isinstance(v, ObjectRef) for v in kwargs.values()):
        def sub(a):
            if isinstance(a, ObjectRef):
                deps.append(a._id)
                return ArgRef(len(deps) - 1)
            return a
        args = tuple(sub(a) for a in args)
        kwargs = {k: sub(v) for k, v in kwargs.items()}
    try:
        sv = serialization.serialize((args, kwargs))
    except TypeError as e:
        raise TypeError(f"Could not serialize the arguments of the task: {e}") from None
    if sv.total_size > serialization.INLINE_LIMIT:
        # Too large to travel in the task: put it in shared memory and pass
        # it as the last dependency (the worker maps it without a copy).
        ref = worker_mod.store_value(w, os.urandom(20), sv)
        keep.append(ref)
        deps.append(ref._id)
        return bytes((serialization.ARGS_IN_OBJECT,)), deps, [], keep
    return sv.to_bytes(), deps, sv.contained, keep


# retry_exceptions=[SomeError, ...] travels with the task here: the worker
# decides whether what the task raised is one to retry.
RETRY_TYPES_KEY = "_miniray_retry_exceptions"


def runtime_env_json(options: Dict[str, Any]) -> str:
    env = dict(options.get("runtime_env") or {})
    retry = options.get("retry_exceptions")
    if isinstance(retry, (list, tuple)):
        for t in retry:
            if not (isinstance(t, type) and issubclass(t, BaseException)):
                raise TypeError(f"retry_exceptions must list exception classes, got {t!r}")
        env[RETRY_TYPES_KEY] = base64.b64encode(cloudpickle.dumps(tuple(retry))).decode()
    return json.dumps(env) if env else ""


class _Submission:
    """A task's options resolved once (not on every .remote() call)."""

    __slots__ = ("num_returns", "resources", "max_retries", "retry_exceptions",
                 "runtime_env", "name")

    def __init__(self, options: Dict[str, Any], default_name: str):
        num_returns = options.get("num_returns")
        self.num_returns = 1 if num_returns is None else int(num_returns)
        self.resources = resource_demand(options, 1.0)
        max_retries = options.get("max_retries")
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else int(max_retries)
        self.retry_exceptions = bool(options.get("retry_exceptions", False))
        self.runtime_env = runtime_env_json(options)
        self.name = options.get("name") or default_name


class RemoteFunction:
    """A function that runs as a task: call `.remote(...)`, not the function."""

    def __init__(self, function, options: Dict[str, Any]):
        self._function = function
        self._options = validate_options(dict(options), TASK_OPTIONS, "remote functions")
        self._name = getattr(function, "__name__", "function")
        self._submission = _Submission(self._options, self._name)
        self._signature = None
        self._pickled = None
        self._function_id = None
        self.__doc__ = function.__doc__
        self.__name__ = self._name
        self.__wrapped__ = function

    def __call__(self, *args, **kwargs):
        raise TypeError(f"Remote functions cannot be called directly. Instead of running "
                        f"'{self._name}()', try '{self._name}.remote()'.")

    def __getstate__(self):
        return {"function": self._function, "options": self._options}

    def __setstate__(self, state):
        self.__init__(state["function"], state["options"])

    def options(self, **options) -> "_OptionsWrapper":
        """A copy of this function with some options overridden."""
        return _OptionsWrapper(self, self._options, options)

    def remote(self, *args, **kwargs):
        return self._remote(args, kwargs, self._submission)

    def _remote(self, args, kwargs, sub: _Submission):
        w = worker_mod._ensure_connected()
        if self._signature is None:
            try:
                self._signature = inspect.signature(self._function)
            except (TypeError, ValueError):
                self._signature = False
        if self._signature:
            try:
                self._signature.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{self._name}() {e}") from None
        if self._pickled is None:
            self._pickled = cloudpickle.dumps(self._function)
            self._function_id = hashlib.sha1(self._pickled).digest()
        export_function(w, self._pickled, self._function_id)
        blob, deps, contained, keep = serialize_args(w, args, kwargs)
        ids = w.core.submit_task(
            os.urandom(16), sub.name, self._function_id, blob, deps, contained,
            sub.num_returns, sub.resources, sub.max_retries, sub.retry_exceptions,
            sub.runtime_env, b"")
        del keep  # the task now holds its argument object
        return worker_mod.refs_for_returns(w, ids, sub.num_returns)


class _OptionsWrapper:
    """`f.options(...)`: the function with some options overridden."""

    def __init__(self, fn: RemoteFunction, base: Dict[str, Any], overrides: Dict[str, Any]):
        self._fn = fn
        self._options = dict(base)
        self._options.update(validate_options(overrides, TASK_OPTIONS, "remote functions"))
        self._submission = _Submission(self._options, fn._name)

    def remote(self, *args, **kwargs):
        return self._fn._remote(args, kwargs, self._submission)

    def options(self, **options):
        return _OptionsWrapper(self._fn, self._options, options)
