"""miniray.util: utilities beside the core API (as ray.util).

miniray.util.queue (Queue, Empty, Full) is imported on demand, as in Ray.
"""
from miniray.util.actor_pool import ActorPool
from miniray.util.check_serialize import inspect_serializability
from miniray.util.serialization import deregister_serializer, register_serializer

__all__ = ["ActorPool", "deregister_serializer", "inspect_serializability",
           "register_serializer"]
