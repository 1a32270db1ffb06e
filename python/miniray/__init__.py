"""miniray: Ray Core's programming model, small and fast.

    import miniray as ray

    @ray.remote
    def add(a, b):
        return a + b

    ray.init()
    assert ray.get(add.remote(1, 2)) == 3
"""
from miniray import actor, exceptions
from miniray.actor import ActorClass, get_actor, kill, method
from miniray._private.object_ref import ObjectRef
from miniray._private.remote_function import RemoteFunction
from miniray._private.runtime_context import get_runtime_context
from miniray._private.worker import (
    available_resources,
    cancel,
    cluster_resources,
    get,
    get_gpu_ids,
    init,
    is_initialized,
    nodes,
    put,
    shutdown,
    wait,
)

__version__ = "0.1.0"


def remote(*args, **options):
    """Makes a function a remote function (a task), or a class an actor class.

    Use as `@remote` or `@remote(num_cpus=2, num_returns=2, ...)`.
    """
    if len(args) == 1 and not options and callable(args[0]):
        return _make_remote(args[0], {})
    if args:
        raise TypeError("The @remote decorator takes either a function or keyword "
                        "options, e.g. @remote(num_cpus=1).")

    def decorator(function_or_class):
        return _make_remote(function_or_class, options)

    return decorator


def _make_remote(obj, options):
    if isinstance(obj, type):
        return ActorClass(obj, options)
    if not callable(obj):
        raise TypeError(f"@remote expects a function, got {type(obj).__name__}")
    return RemoteFunction(obj, options)


from miniray import util  # noqa: E402 (after remote(): util's modules use it)

__all__ = [
    "ObjectRef", "actor", "available_resources", "cancel", "cluster_resources",
    "exceptions", "get", "get_actor", "get_gpu_ids", "get_runtime_context", "init",
    "is_initialized", "kill", "method", "nodes", "put", "remote", "shutdown", "util",
    "wait",
]
