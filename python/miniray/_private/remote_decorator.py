"""`@miniray.remote`: what it makes of a function or a class, and the types
it tells a type checker.

At run time `remote` returns a RemoteFunction (for a function) or an
ActorClass (for a class). For mypy and pyright it returns, as Ray's does, a
RemoteFunctionN that knows the function's parameter and result types:
`f.remote(x)` takes each argument as its value or as an ObjectRef to one and
returns `ObjectRef[R]`, so `miniray.get(f.remote(x))` has the function's
result type and a wrong argument is reported in the editor. Those classes
exist only for the type checker (their `...` bodies never run).

The overloads match a function by its positional parameters, from none to
ten, as Ray's do: a function with more gets a `RemoteFunction[R]` whose
`.remote()` takes anything. Limits Ray's types share: `.remote()` is typed
for positional arguments only, and a function whose last parameters have
defaults matches the overload of its required ones (passing the defaulted
ones is then flagged); `typing.cast` the remote function where that bites.
"""
from typing import (Any, Callable, Dict, Generic, List, Literal, Optional, Type, TypeVar,
                    Union, overload)

from miniray._private.object_ref import ObjectRef
from miniray.dag import DAGNode
from miniray._private.remote_function import RemoteFunction
from miniray.actor import ActorClass

R = TypeVar("R")
T = TypeVar("T")
T0 = TypeVar("T0")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")
T7 = TypeVar("T7")
T8 = TypeVar("T8")
T9 = TypeVar("T9")


class RemoteFunctionNoArgs(Generic[R]):
    """A remote function without parameters (for type checkers)."""

    def remote(self) -> ObjectRef[R]: ...

    def options(self, **options: Any) -> "RemoteFunctionNoArgs[R]": ...

    def bind(self, *args: Any, **kwargs: Any) -> DAGNode: ...


class RemoteFunction0(Generic[R, T0]):
    """A remote function of 1 parameter (for type checkers)."""

    def remote(self, arg0: Union[T0, ObjectRef[T0]], /) -> ObjectRef[R]: ...

    def options(self, **options: Any) -> "RemoteFunction0[R, T0]": ...

    def bind(self, *args: Any, **kwargs: Any) -> DAGNode: ...


class RemoteFunction1(Generic[R, T0, T1]):
    """A remote function of 2 parameters (for type checkers)."""

    def remote(self, arg0: Union[T0, ObjectRef[T0]], arg1: Union[T1, ObjectRef[T1]],
               /) -> ObjectRef[R]: ...

    def options(self, **options: Any) -> "RemoteFunction1[R, T0, T1]": ...

    def bind(self, *args: Any, **kwargs: Any) -> DAGNode: ...


class RemoteFunction2(Generic[R, T0, T1, T2]):
    """A remote function of 3 parameters (for type checkers)."""

    def remote(self,
               arg0: Union[T0, ObjectRef[T0]],
               arg1: Union[T1, ObjectRef[T1]],
               arg2: Union[T2, ObjectRef[T2]],
               /) -> ObjectRef[R]: ...

    def options(self, **options: Any) -> "RemoteFunction2[R, T0, T1, T2]": ...

    def bind(self, *args: Any, **kwargs: Any) -> DAGNode: ...


class RemoteFunction3(Generic[R, T0, T1, T2, T3]):
    """A remote function of 4 parameters (for type checkers)."""

    def remote(self,
               arg0: Union[T0, ObjectRef[T0]],
               arg1: Union[T1, ObjectRef[T1]],
               arg2: Union[T2, ObjectRef[T2]],
               arg3: Union[T3, ObjectRef[T3]],
               /) -> ObjectRef[R]: ...

    def options(self, **options: Any) -> "RemoteFunction3[R, T0, T1, T2, T3]": ...

    def bind(self, *args: Any, **kwargs: Any) -> DAGNode: ...


class RemoteFunction4(Generic[R, T0, T1, T2, T3, T4]):
    """A remote function of 5 parameters (for type checkers)."""

    def remote(self,
               arg0: Union[T0, ObjectRef[T0]],
               arg1: Union[T1, ObjectRef[T1]],
               arg2: Union[T2, ObjectRef[T2]],
               arg3: Union[T3, ObjectRef[T3]],
               arg4: Union[T4, ObjectRef[T4]],
               /) -> ObjectRef[R]: ...

    def options(self, **options: Any) -> "RemoteFunction4[R, T0, T1, T2, T3, T4]": ...

    def bind(self, *args: Any, **kwargs: Any) -> DAGNode: ...


class RemoteFunction5(Generic[R, T0, T1, T2, T3, T4, T5]):
    """A remote function of 6 parameters (for type checkers)."""

    def remote(self,
               arg0: Union[T0, ObjectRef[T0]],
               arg1: Union[T1, ObjectRef[T1]],
               arg2: Union[T2, ObjectRef[T2]],
               arg3: Union[T3, ObjectRef[T3]],
               arg4: Union[T4, ObjectRef[T4]],
               arg5: Union[T5, ObjectRef[T5]],
               /) -> ObjectRef[R]: ...

    def options(self, **options: Any) -> "RemoteFunction5[R, T0, T1, T2, T3, T4, T5]": ...

    def bind(self, *args: Any, **kwargs: Any) -> DAGNode: ...


class RemoteFunction6(Generic[R, T0, T1, T2, T3, T4, T5, T6]):
    """A remote function of 7 parameters (for type checkers)."""

    def remote(self,
               arg0: Union[T0, ObjectRef[T0]],
               arg1: Union[T1, ObjectRef[T1]],
               arg2: Union[T2, ObjectRef[T2]],
               arg3: Union[T3, ObjectRef[T3]],
               arg4: Union[T4, ObjectRef[T4]],
               arg5: Union[T5, ObjectRef[T5]],
               arg6: Union[T6, ObjectRef[T6]],
               /) -> ObjectRef[R]: ...

    def options(self, **options: Any) -> "RemoteFunction6[R, T0, T1, T2, T3, T4, T5, T6]": ...

    def bind(self, *args: Any, **kwargs: Any) -> DAGNode: ...


class RemoteFunction7(Generic[R, T0, T1, T2, T3, T4, T5, T6, T7]):
    """A remote function of 8 parameters (for type checkers)."""

    def remote(self,
               arg0: Union[T0, ObjectRef[T0]],
               arg1: Union[T1, ObjectRef[T1]],
               arg2: Union[T2, ObjectRef[T2]],
               arg3: Union[T3, ObjectRef[T3]],
               arg4: Union[T4, ObjectRef[T4]],
               arg5: Union[T5, ObjectRef[T5]],
               arg6: Union[T6, ObjectRef[T6]],
               arg7: Union[T7, ObjectRef[T7]],
               /) -> ObjectRef[R]: ...

    def options(self, **options: Any) -> "RemoteFunction7[R, T0, T1, T2, T3, T4, T5, T6, T7]": ...

    def bind(self, *args: Any, **kwargs: Any) -> DAGNode: ...


class RemoteFunction8(Generic[R, T0, T1, T2, T3, T4, T5, T6, T7, T8]):
    """A remote function of 9 parameters (for type checkers)."""

    def remote(self,
               arg0: Union[T0, ObjectRef[T0]],
               arg1: Union[T1, ObjectRef[T1]],
               arg2: Union[T2, ObjectRef[T2]],
               arg3: Union[T3, ObjectRef[T3]],
               arg4: Union[T4, ObjectRef[T4]],
               arg5: Union[T5, ObjectRef[T5]],
               arg6: Union[T6, ObjectRef[T6]],
               arg7: Union[T7, ObjectRef[T7]],
               arg8: Union[T8, ObjectRef[T8]],
               /) -> ObjectRef[R]: ...

    def options(self, **options: Any
                ) -> "RemoteFunction8[R, T0, T1, T2, T3, T4, T5, T6, T7, T8]": ...

    def bind(self, *args: Any, **kwargs: Any) -> DAGNode: ...


class RemoteFunction9(Generic[R, T0, T1, T2, T3, T4, T5, T6, T7, T8, T9]):
    """A remote function of 10 parameters (for type checkers)."""

    def remote(self,
               arg0: Union[T0, ObjectRef[T0]],
               arg1: Union[T1, ObjectRef[T1]],
               arg2: Union[T2, ObjectRef[T2]],
               arg3: Union[T3, ObjectRef[T3]],
               arg4: Union[T4, ObjectRef[T4]],
               arg5: Union[T5, ObjectRef[T5]],
               arg6: Union[T6, ObjectRef[T6]],
               arg7: Union[T7, ObjectRef[T7]],
               arg8: Union[T8, ObjectRef[T8]],
               arg9: Union[T9, ObjectRef[T9]],
               /) -> ObjectRef[R]: ...

    def options(self, **options: Any
                ) -> "RemoteFunction9[R, T0, T1, T2, T3, T4, T5, T6, T7, T8, T9]": ...

    def bind(self, *args: Any, **kwargs: Any) -> DAGNode: ...


class RemoteDecorator:
    """`@remote(num_cpus=..., ...)`: applies those options to a function or
    class."""

    def __init__(self, options: Dict[str, Any]):
        self._options = options

    @overload
    def __call__(self, cls: Type[T], /) -> ActorClass[T]: ...

    @overload
    def __call__(self, function: Callable[[], R], /) -> RemoteFunctionNoArgs[R]: ...

    @overload
    def __call__(self, function: Callable[[T0], R], /) -> RemoteFunction0[R, T0]: ...

    @overload
    def __call__(self, function: Callable[[T0, T1], R], /) -> RemoteFunction1[R, T0, T1]: ...

    @overload
    def __call__(self, function: Callable[[T0, T1, T2], R], /
            ) -> RemoteFunction2[R, T0, T1, T2]: ...

    @overload
    def __call__(self, function: Callable[[T0, T1, T2, T3], R], /
            ) -> RemoteFunction3[R, T0, T1, T2, T3]: ...

    @overload
    def __call__(self, function: Callable[[T0, T1, T2, T3, T4], R], /
            ) -> RemoteFunction4[R, T0, T1, T2, T3, T4]: ...

    @overload
    def __call__(self, function: Callable[[T0, T1, T2, T3, T4, T5], R], /
            ) -> RemoteFunction5[R, T0, T1, T2, T3, T4, T5]: ...

    @overload
    def __call__(self, function: Callable[[T0, T1, T2, T3, T4, T5, T6], R], /
            ) -> RemoteFunction6[R, T0, T1, T2, T3, T4, T5, T6]: ...

    @overload
    def __call__(self, function: Callable[[T0, T1, T2, T3, T4, T5, T6, T7], R], /
            ) -> RemoteFunction7[R, T0, T1, T2, T3, T4, T5, T6, T7]: ...

    @overload
    def __call__(self, function: Callable[[T0, T1, T2, T3, T4, T5, T6, T7, T8], R], /
            ) -> RemoteFunction8[R, T0, T1, T2, T3, T4, T5, T6, T7, T8]: ...

    @overload
    def __call__(self, function: Callable[[T0, T1, T2, T3, T4, T5, T6, T7, T8, T9], R], /
            ) -> RemoteFunction9[R, T0, T1, T2, T3, T4, T5, T6, T7, T8, T9]: ...

    @overload
    def __call__(self, function: Callable[..., R], /) -> RemoteFunction[R]: ...

    def __call__(self, function_or_class, /):
        return _make_remote(function_or_class, self._options)



@overload
def remote(cls: Type[T], /) -> ActorClass[T]: ...

@overload
def remote(function: Callable[[], R], /) -> RemoteFunctionNoArgs[R]: ...

@overload
def remote(function: Callable[[T0], R], /) -> RemoteFunction0[R, T0]: ...

@overload
def remote(function: Callable[[T0, T1], R], /) -> RemoteFunction1[R, T0, T1]: ...

@overload
def remote(function: Callable[[T0, T1, T2], R], /) -> RemoteFunction2[R, T0, T1, T2]: ...

@overload
def remote(function: Callable[[T0, T1, T2, T3], R], /) -> RemoteFunction3[R, T0, T1, T2, T3]: ...

@overload
def remote(function: Callable[[T0, T1, T2, T3, T4], R], /
        ) -> RemoteFunction4[R, T0, T1, T2, T3, T4]: ...

@overload
def remote(function: Callable[[T0, T1, T2, T3, T4, T5], R], /
        ) -> RemoteFunction5[R, T0, T1, T2, T3, T4, T5]: ...

@overload
def remote(function: Callable[[T0, T1, T2, T3, T4, T5, T6], R], /
        ) -> RemoteFunction6[R, T0, T1, T2, T3, T4, T5, T6]: ...

@overload
def remote(function: Callable[[T0, T1, T2, T3, T4, T5, T6, T7], R], /
        ) -> RemoteFunction7[R, T0, T1, T2, T3, T4, T5, T6, T7]: ...

@overload
def remote(function: Callable[[T0, T1, T2, T3, T4, T5, T6, T7, T8], R], /
        ) -> RemoteFunction8[R, T0, T1, T2, T3, T4, T5, T6, T7, T8]: ...

@overload
def remote(function: Callable[[T0, T1, T2, T3, T4, T5, T6, T7, T8, T9], R], /
        ) -> RemoteFunction9[R, T0, T1, T2, T3, T4, T5, T6, T7, T8, T9]: ...

@overload
def remote(function: Callable[..., R], /) -> RemoteFunction[R]: ...

@overload
def remote(*,
           num_returns: int = ...,
           num_cpus: float = ...,
           num_gpus: float = ...,
           resources: Dict[str, float] = ...,
           memory: float = ...,
           accelerator_type: str = ...,
           max_calls: int = ...,
           max_retries: int = ...,
           retry_exceptions: Union[bool, List[Type[BaseException]]] = ...,
           runtime_env: Dict[str, Any] = ...,
           scheduling_strategy: Any = ...,
           name: str = ...,
           namespace: str = ...,
           get_if_exists: bool = ...,
           lifetime: Optional[Literal["detached", "non_detached"]] = ...,
           max_restarts: int = ...,
           max_task_retries: int = ...,
           max_concurrency: int = ...,
           max_pending_calls: int = ...,
           concurrency_groups: Dict[str, int] = ...,
           label_selector: Dict[str, str] = ...,
           enable_task_events: bool = ...,
           priority: int = ...,
           _metadata: Dict[str, Any] = ...) -> RemoteDecorator: ...


def remote(*args, **options):
    """Makes a function a remote function (a task), or a class an actor class.

    Use it bare, `@miniray.remote`, or with options,
    `@miniray.remote(num_cpus=2, num_returns=2)`. Call the result with
    `.remote(...)`: a function's call submits a task and returns ObjectRefs
    to its results at once; a class's call creates an actor and returns an
    ActorHandle. `.options(...)` on either overrides options for some calls.

    Args (options for functions and classes):
        num_cpus: CPUs reserved while it runs (tasks: default 1; actors: 0
            for method calls, and what is given for the actor's life).
        num_gpus: GPUs reserved; `get_gpu_ids()` names them in the task.
        resources: custom resources reserved, e.g. {"accelerator": 1}.
        memory: bytes of memory reserved (a scheduling resource only).
        accelerator_type: accepted for Ray compatibility; not scheduled on.
        runtime_env: the environment it runs in, merged over the job's:
            {"env_vars": {...}, "working_dir": "dir", "py_modules":
            [...], "pip": [...]} (see init()); conda and containers are
            refused.
        scheduling_strategy: "DEFAULT", "SPREAD" (one node: the same), or
            miniray.util.scheduling_strategies'
            PlacementGroupSchedulingStrategy (run in a placement group's
            bundles) or NodeAffinitySchedulingStrategy (a node; a hard
            affinity to a node not in the cluster fails the task with
            TaskUnschedulableError, an actor's creation with
            ActorUnschedulableError).
        label_selector, _metadata, enable_task_events: accepted for Ray
            compatibility; no effect on one node.

    Args (functions only):
        num_returns: how many ObjectRefs a call returns (default 1); the
            function then returns a sequence of that length.
        max_retries: re-runs after the worker died (default 3; -1: forever).
        retry_exceptions: also retry when it raises: True for any
            exception, or a list of exception classes (default False).
        max_calls: accepted for Ray compatibility (workers are reused).
        name: the task's name in errors and logs (default: the function's).
        priority: an integer (default 0; a miniray extension, from the
            design document): among ready tasks that fit, higher priorities
            run first, FIFO within a priority. On `.options()` of an actor
            method it orders the calls waiting for that actor.

    Args (classes only):
        name: a name that get_actor() finds, unique in its namespace.
        namespace: the namespace of that name (default: the job's).
        get_if_exists: with `name`, return the existing actor if any.
        lifetime: "detached" keeps the actor alive after its handles and
            its driver are gone, until kill() or `miniray stop`.
        max_restarts: restarts after the actor's process died (default 0;
            -1: forever); the constructor runs again.
        max_task_retries: re-runs of a method call interrupted by a restart
            (default 0; -1: forever).
        max_concurrency: calls run at once (threads, or tasks on the event
            loop of an async actor; default 1, 1000 for async actors).
        max_pending_calls: calls a handle may have unfinished; one more
            raises PendingCallsLimitExceeded (default -1: no limit).
        concurrency_groups: {"name": limit}: named groups of methods, each
            running up to `limit` calls at once (threads, or tasks on an
            async actor's loop), apart from the default max_concurrency;
            a method joins one with @method(concurrency_group="name") or
            `.options(concurrency_group="name")`.

    Returns:
        A RemoteFunction or ActorClass; with options only, a decorator that
        makes one.

    Raises:
        TypeError: an argument that is neither a function nor a class, an
            option of the wrong type, or positional arguments with options.
        ValueError: an unknown option or a value out of range.
    """
    if len(args) == 1 and not options and callable(args[0]):
        return _make_remote(args[0], {})
    if args:
        raise TypeError("The @remote decorator takes either a function or keyword "
                        "options, e.g. @remote(num_cpus=1).")
    return RemoteDecorator(options)


def _make_remote(obj, options):
    if isinstance(obj, type):
        return ActorClass(obj, options)
    if not callable(obj):
        raise TypeError(f"@remote expects a function or a class, got {type(obj).__name__}")
    return RemoteFunction(obj, options)
