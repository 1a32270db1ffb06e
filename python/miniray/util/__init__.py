"""miniray.util: utilities beside the core API (as ray.util)."""
from miniray.util.check_serialize import inspect_serializability

__all__ = ["inspect_serializability"]
