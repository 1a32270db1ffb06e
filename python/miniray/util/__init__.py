"""miniray.util: utilities beside the core API (as ray.util).

miniray.util.queue (Queue, Empty, Full) is imported on demand, as in Ray.
"""
from miniray.util.actor_pool import ActorPool
from miniray.util.check_serialize import inspect_serializability
from miniray.util.serialization import deregister_serializer, register_serializer


def list_named_actors(all_namespaces: bool = False) -> list:
    """The live named actors (as ray.util.list_named_actors).

    Args:
        all_namespaces: list those of every namespace, not only this job's.

    Returns:
        Their names; with all_namespaces, dicts {"name", "namespace"}.
    """
    from miniray._private import worker
    w = worker._ensure_connected()
    reply = w.core.list_named_actors(w.namespace, bool(all_namespaces))
    if all_namespaces:
        return [{"name": a.name, "namespace": a.ray_namespace} for a in reply.actors]
    return [a.name for a in reply.actors]


__all__ = ["ActorPool", "deregister_serializer", "inspect_serializability",
           "list_named_actors", "register_serializer"]
