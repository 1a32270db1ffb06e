"""miniray: Ray Core's programming model, small and fast.

    import miniray as ray

    @ray.remote
    def add(a, b):
        return a + b

    ray.init()
    assert ray.get(add.remote(1, 2)) == 3
"""
from miniray import actor, dag, exceptions
from miniray.actor import ActorClass, get_actor, kill, method
from miniray._private.generator import DynamicObjectRefGenerator, ObjectRefGenerator
from miniray._private.object_ref import ObjectRef
from miniray._private.remote_decorator import remote
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

# Last: util's modules use the API above (miniray.remote, get, ...).
from miniray import util
from miniray.util.state.api import timeline

__version__ = "0.1.0"

__all__ = [
    "DynamicObjectRefGenerator", "ObjectRef", "ObjectRefGenerator", "actor", "available_resources", "cancel", "cluster_resources", "dag",
    "exceptions", "get", "get_actor", "get_gpu_ids", "get_runtime_context", "init",
    "is_initialized", "kill", "method", "nodes", "put", "remote", "shutdown", "timeline",
    "util", "wait",
]
