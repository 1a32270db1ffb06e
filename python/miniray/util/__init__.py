"""miniray.util: utilities beside the core API (as ray.util).

miniray.util.queue (Queue, Empty, Full) is imported on demand, as in Ray.
"""
from miniray.util.actor_pool import ActorPool
from miniray.util.check_serialize import inspect_serializability
from miniray.util.serialization import deregister_serializer, register_serializer
# As in Ray, the function shadows its module's name here; `from
# miniray.util.placement_group import PlacementGroup` still finds the module.
from miniray.util.placement_group import (  # noqa: E402
    get_current_placement_group, get_placement_group, placement_group, placement_group_table,
    remove_placement_group)


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


__all__ = ["ActorPool", "deregister_serializer", "get_current_placement_group",
           "get_placement_group", "inspect_serializability", "list_named_actors",
           "placement_group", "placement_group_table", "register_serializer",
           "remove_placement_group"]
