"""inspect_serializability: find what makes a value unpicklable."""
import inspect
import types
from typing import Any, List, Optional, Set, Tuple

import cloudpickle


def inspect_serializability(base_obj: Any, name: Optional[str] = None,
                            print_file=None) -> Tuple[bool, Set[str]]:
    """Whether a value can be serialized, and if not, what in it cannot.

    As Ray's `ray.util.inspect_serializability`: looks inside objects,
    containers, and functions (their closure and the globals they use) for
    the innermost members that cannot be pickled.

    Args:
        base_obj: the value (a function, class or any object).
        name: what to call it in the result (default: its __name__).
        print_file: a file to print the verdict to, if any.

    Returns:
        (True, set()) if it can be serialized; else (False, the names of the
        innermost members that cannot be).
    """
    name = name or getattr(base_obj, "__name__", repr(base_obj))
    failures = unserializable_members(base_obj, name)
    if print_file is not None and failures:
        print(f"Could not serialize {name}: {sorted(n for n, _ in failures)}", file=print_file)
    return not failures, {n for n, _ in failures}


def unserializable_members(obj: Any, name: str) -> List[Tuple[str, Any]]:
    """[(name, value)] of the innermost members of `obj` that cannot be
    pickled; [(name, obj)] when nothing inside is to blame; [] if it can."""
    failures: List[Tuple[str, Any]] = []
    _inspect(obj, name, failures, depth=0, seen=set())
    return failures


def _members(obj) -> List[Tuple[str, Any]]:
    if isinstance(obj, types.FunctionType):
        # What cloudpickle pickles with a function defined in __main__: its
        # closure cells and the globals its code names (modules go by name).
        try:
            captured = inspect.getclosurevars(obj)
        except (TypeError, ValueError):
            return []
        return [(n, v) for n, v in {**captured.nonlocals, **captured.globals}.items()
                if not isinstance(v, types.ModuleType)]
    # Members of containers and objects are named by their path from the
    # outer value: x['a'][0], x.attr.
    if isinstance(obj, dict):
        return [(f"[{k!r}]", v) for k, v in obj.items()]
    if isinstance(obj, (list, tuple, set)):
        return [(f"[{i}]", v) for i, v in enumerate(obj)]
    if isinstance(obj, type):
        return [(f".{k}", v) for k, v in vars(obj).items() if not k.startswith("__")]
    if hasattr(obj, "__dict__"):
        return [(f".{k}", v) for k, v in vars(obj).items()]
    return []


def _inspect(obj, name, failures, depth, seen) -> bool:
    if id(obj) in seen:
        return True
    seen.add(id(obj))
    try:
        cloudpickle.dumps(obj)
        return True
    except Exception:  # noqa: BLE001 - any failure is what we are looking for
        pass
    found_inner = False
    if depth < 4:
        for member_name, member in _members(obj):
            if member_name[0] in "[.":  # a path below this value
                member_name = name + member_name
            if not _inspect(member, member_name, failures, depth + 1, seen):
                found_inner = True
    if not found_inner:
        failures.append((name, obj))
    return False
