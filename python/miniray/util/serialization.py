"""Custom serializers for classes pickle cannot handle (as ray.util.serialization)."""
from typing import Any, Callable

from miniray._private import serialization


def register_serializer(cls: type, *, serializer: Callable[[Any], Any],
                        deserializer: Callable[[Any], Any]) -> None:
    """Serializes instances of `cls` with your functions, in this process.

    `serializer(obj)` turns an instance into something picklable;
    `deserializer(that)` rebuilds the instance wherever the value is read
    (it travels with the value, so workers need no registration).

    Args:
        cls: the class (instances of subclasses are not covered).
        serializer: instance -> a picklable value.
        deserializer: that value -> an instance.

    Raises:
        TypeError: `cls` is not a class, or a function is not callable.
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_serializer expects a class, got {cls!r}")
    if not callable(serializer) or not callable(deserializer):
        raise TypeError("serializer and deserializer must be callables")
    serialization.custom_reducers[cls] = lambda obj: (deserializer, (serializer(obj),))


def deregister_serializer(cls: type) -> None:
    """Stops using the serializer registered for `cls` (no error if none)."""
    serialization.custom_reducers.pop(cls, None)
