"""RemoteFunction: what @miniray.remote makes of a function.

`f.remote(*args)` serializes the arguments (top-level ObjectRefs become
dependencies the scheduler waits for; nested ones travel as references),
exports the function once per session (cloudpickle, keyed by a hash of its
bytes, fetched and cached by each worker), and submits a task: an
rpc.TaskSpec built once per options set, plus this call's arguments.
"""
import hashlib
import inspect
from typing import Any, Dict, Generic, Optional, TypeVar

import _miniray_core
from _miniray_core import rpc

from miniray import dag, exceptions
from miniray._private import generator as generator_mod
from miniray._private import runtime_env, serialization
from miniray._private import worker as worker_mod
from miniray._private.object_ref import ObjectRef
from miniray._private.ray_option_utils import (
    TASK_OPTIONS, placement_of, resource_demand, unschedulable_reason, validate_options)
from miniray._private.worker_state import WORKER

R = TypeVar("R")

DEFAULT_MAX_RETRIES = 3  # as Ray, for tasks (retried when a worker dies)


class ArgRef:
    """Stands in for a top-level ObjectRef argument in the pickled args: the
    worker replaces it by the i-th dependency's value."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def __reduce__(self):
        return (ArgRef, (self.index,))


def export_function(w, pickled: bytes, function_id: bytes) -> None:
    if function_id not in w.exported_functions:
        w.core.kv_put("fn:" + function_id.hex(), pickled, False)
        w.exported_functions.add(function_id)
        if w.router is not None:  # sent with its first task to each other node
            w.router.function_blobs[function_id] = pickled


# The arguments of a call with none, serialized once.
_NO_ARGS = serialization.serialize(((), {})).to_bytes()


def serialize_args(w, args, kwargs, task):
    """(args blob, dependency ids, contained ids, keep-alive refs). `task`
    (its SpecTemplate, or its name) names it in an error."""
    if not args and not kwargs:
        return _NO_ARGS, [], [], []
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
        name = task.spec.name if isinstance(task, SpecTemplate) else task
        raise serialization.args_error(name, args, kwargs, e.__cause__ or e) from None
    if sv.total_size > serialization.INLINE_LIMIT:
        # Too large to travel in the task: put it in shared memory and pass
        # it as the last dependency (the worker maps it without a copy).
        ref = worker_mod.store_value(w, _miniray_core.new_object_id(), sv)
        keep.append(ref)
        deps.append(ref._id)
        return bytes((serialization.ARGS_IN_OBJECT,)), deps, [], keep
    return sv.to_bytes(), deps, sv.contained, keep


def runtime_env_json(options: Dict[str, Any]) -> str:
    """The task's runtime_env over the job's (see runtime_env.merge), less
    what the job's workers already have for good (its env_vars and
    working_dir are set when a worker starts): a task of a job with only
    those carries nothing, and its worker does nothing per task."""
    job = runtime_env.per_task_part(worker_mod.global_worker.job_runtime_env)
    return runtime_env.to_json(runtime_env.merge(job, options.get("runtime_env") or {}))


class SpecTemplate:
    """An rpc.TaskSpec with the fields that are the same for every call made
    with one options set; each call adds its arguments (and gets a task id).
    `error`: why such calls can never be scheduled (they fail with it)."""

    __slots__ = ("spec", "num_returns", "error", "generator", "strategy", "route")

    def __init__(self, spec, error: Optional[BaseException] = None, strategy: Any = None):
        self.spec = spec
        self.num_returns, self.generator = spec.fields("num_returns", "generator")  # once
        self.error = error
        self.strategy = strategy  # the scheduling_strategy option (where it runs)
        self.route = None  # whether its calls may go to other nodes (cluster_router)


def returns_of(w, ids, template: SpecTemplate):
    """What .remote() returns: ObjectRef(s), or a generator task's
    ObjectRefGenerator (streaming) or completion ref (dynamic)."""
    if template.generator == generator_mod.STREAMING:
        return generator_mod.ObjectRefGenerator(ObjectRef(ids[0], w.core),
                                                _miniray_core.task_id_of(ids[0]))
    return worker_mod.refs_for_returns(w, ids, template.num_returns)


def set_placement(spec, options: Dict[str, Any], captured_group: Optional[bytes]) -> None:
    """A task's or actor's placement group fields, from its
    scheduling_strategy or the group its parent task captures it in."""
    placement = placement_of(options.get("scheduling_strategy"), captured_group)
    if placement is not None:
        (spec.placement_group_id, spec.placement_group_bundle_index,
         spec.placement_group_capture_child_tasks) = placement


def never_schedulable(options: Dict[str, Any]) -> Optional[str]:
    """Why these options can never be scheduled (see unschedulable_reason)."""
    strategy = options.get("scheduling_strategy")
    if strategy is None or isinstance(strategy, str):
        return None
    return unschedulable_reason(strategy, (n["NodeID"] for n in worker_mod.nodes()
                                           if n["Alive"]))


def task_spec_template(options: Dict[str, Any], name: str, function_id: bytes,
                       captured_group: Optional[bytes] = None,
                       generator: int = generator_mod.NOT_A_GENERATOR) -> SpecTemplate:
    """The template of a task's calls with these options (in the placement
    group `captured_group`, when its parent task captures its children)."""
    num_returns = 1 if generator else options.get("num_returns")
    max_retries = options.get("max_retries")
    retry = options.get("retry_exceptions")
    spec = rpc.TaskSpec(
        type=rpc.TaskType.NORMAL_TASK,
        name=options.get("name") or name,
        function_id=function_id,
        num_returns=1 if num_returns is None else int(num_returns),
        required_resources=resource_demand(options, 1.0),
        max_retries=DEFAULT_MAX_RETRIES if max_retries is None else int(max_retries),
        retry_exceptions=bool(retry),
        runtime_env=runtime_env_json(options),
        priority=int(options.get("priority") or 0),
        generator=generator,
    )
    if isinstance(retry, (list, tuple)):
        # Only these classes are retried: the worker, which can unpickle
        # them, judges what the task raised.
        spec.serialized_retry_exception_allowlist = serialization.dumps(tuple(retry))
    set_placement(spec, options, captured_group)
    reason = never_schedulable(options)
    strategy = options.get("scheduling_strategy")
    if reason:
        return SpecTemplate(spec, exceptions.TaskUnschedulableError(
            f"The task {spec.name} cannot be scheduled: {reason}."), strategy)
    return SpecTemplate(spec, None, strategy)


class RemoteFunction(Generic[R]):
    """A function that runs as a task: call `.remote(...)`, not the function."""

    def __init__(self, function, options: Dict[str, Any]):
        self._function = function
        self._options = validate_options(dict(options), TASK_OPTIONS, "remote functions")
        self._name = getattr(function, "__name__", "function")
        self._signature = None
        # Call shapes (positional count, keyword names) the signature took:
        # whether bind() succeeds depends on nothing else, so each shape is
        # checked once.
        self._bound_shapes: set = set()
        self._pickled = None
        self._function_id = None
        self._spec = None  # the TaskSpec template of the default options
        self._captured: Dict[bytes, SpecTemplate] = {}  # per captured group
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

    def options(self, **options: Any) -> "_OptionsWrapper[R]":
        """This function with some options overridden for the calls made
        through the result: `f.options(num_cpus=2).remote(x)`.

        Args:
            **options: any option of @remote for functions (see remote()).

        Raises:
            ValueError, TypeError: an unknown option or a bad value.
        """
        return _OptionsWrapper(self, self._options, options)

    def bind(self, *args: Any, **kwargs: Any) -> "dag.FunctionNode":
        """A node of a DAG calling this function (see miniray.dag)."""
        return dag.FunctionNode(self, args, kwargs)

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Submits a call of the function as a task; returns at once.

        ObjectRef arguments at the top level are resolved to their values
        before the task runs (the task waits for them); ObjectRefs inside
        other values are passed as references.

        Returns:
            An ObjectRef to the result, or a list of num_returns ObjectRefs
            when num_returns > 1 (None when it is 0).

        Raises:
            TypeError: the arguments do not fit the function's signature, or
                cannot be serialized.
        """
        w = self._prepare(args, kwargs)
        return self._submit(w, self._template(self, w), args, kwargs)

    def _template(self, owner, w) -> SpecTemplate:
        """The spec template of `owner` (this function, or an .options() of
        it), made once; a task captured in its parent's placement group
        gets one per group."""
        group = w.current_capture_group if w.mode == WORKER else None
        if group and owner._options.get("scheduling_strategy") is None:
            template = owner._captured.get(group)
            if template is None:
                template = owner._captured[group] = task_spec_template(
                    owner._options, self._name, self._function_id, group, self._generator(owner))
            return template
        if owner._spec is None:
            owner._spec = task_spec_template(owner._options, self._name, self._function_id,
                                             None, self._generator(owner))
        return owner._spec

    def _generator(self, owner) -> int:
        return generator_mod.generator_kind(owner._options.get("num_returns"),
                                            generator_mod.is_generator_function(self._function))

    def _prepare(self, args, kwargs):
        """Checks the call against the signature and exports the function."""
        w = worker_mod._ensure_connected()
        if self._signature is None:
            try:
                self._signature = inspect.signature(self._function)
            except (TypeError, ValueError):
                self._signature = False
        shape = (len(args), tuple(kwargs)) if kwargs else len(args)
        if self._signature and shape not in self._bound_shapes:
            try:
                self._signature.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{self._name}() {e}") from None
            if len(self._bound_shapes) < 64:
                self._bound_shapes.add(shape)
        if self._pickled is None:
            self._pickled = serialization.pickle_code(self._function, "remote function")
            self._function_id = hashlib.sha1(self._pickled).digest()
        export_function(w, self._pickled, self._function_id)
        return w

    @staticmethod
    def _submit(w, template: SpecTemplate, args, kwargs):
        if template.error is not None:  # never schedulable: each return holds why
            error = serialization.serialize(template.error, serialization.TASK_ERROR)
            refs = [worker_mod.store_value(w, _miniray_core.new_object_id(), error)
                    for _ in range(template.num_returns)]
            return refs[0] if template.num_returns == 1 else (refs or None)
        blob, deps, contained, keep = serialize_args(w, args, kwargs, template)
        router = w.router
        if router is not None:  # an attached driver: the task may run elsewhere
            if not contained and router.wants(template):
                refs = router.submit(template, blob, deps, keep)
                if refs is not None:
                    return refs
            if deps:
                router.fetch(deps)  # arguments made on other nodes come here
        ids = w.core.submit_task(template.spec, blob, deps, contained)
        del keep  # the task now holds its argument object
        if router is not None and ids:
            router.spill.ran_here(template, ids[0])  # counted until gotten
        return returns_of(w, ids, template)


class _OptionsWrapper(Generic[R]):
    """`f.options(...)`: the function with some options overridden."""

    def __init__(self, fn: RemoteFunction, base: Dict[str, Any], overrides: Dict[str, Any]):
        self._fn = fn
        self._options = dict(base)
        self._options.update(validate_options(overrides, TASK_OPTIONS, "remote functions"))
        self._spec = None
        self._captured: Dict[bytes, SpecTemplate] = {}

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """As RemoteFunction.remote, with these options."""
        w = self._fn._prepare(args, kwargs)
        return self._fn._submit(w, self._fn._template(self, w), args, kwargs)

    def bind(self, *args: Any, **kwargs: Any) -> "dag.FunctionNode":
        """A node of a DAG calling this function with these options."""
        return dag.FunctionNode(self, args, kwargs)

    def options(self, **options: Any) -> "_OptionsWrapper[R]":
        """These options with some more overridden."""
        return _OptionsWrapper(self._fn, self._options, options)
