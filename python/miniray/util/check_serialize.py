"""inspect_serializability: find what makes a value unpicklable."""
from typing import Any, Optional, Set, Tuple

import cloudpickle


def inspect_serializability(base_obj: Any, name: Optional[str] = None,
                            print_file=None) -> Tuple[bool, Set[str]]:
    """(True, set()) if `base_obj` can be serialized; otherwise (False, the
    names of the innermost members that cannot be), as ray.util does."""
    failures: Set[str] = set()
    ok = _inspect(base_obj, name or getattr(base_obj, "__name__", repr(base_obj)),
                  failures, depth=0)
    if print_file is not None and not ok:
        print(f"Could not serialize {name or base_obj!r}: {sorted(failures)}", file=print_file)
    return ok, failures


def _inspect(obj, name, failures, depth) -> bool:
    try:
        cloudpickle.dumps(obj)
        return True
    except Exception:  # noqa: BLE001 - any failure is what we are looking for
        pass
    found_inner = False
    if depth < 3:
        members = []
        if hasattr(obj, "__dict__"):
            members = list(vars(obj).items())
        elif isinstance(obj, dict):
            members = [(repr(k), v) for k, v in obj.items()]
        elif isinstance(obj, (list, tuple, set)):
            members = [(f"[{i}]", v) for i, v in enumerate(obj)]
        closure = getattr(obj, "__closure__", None) or ()
        code = getattr(obj, "__code__", None)
        if code is not None:
            members += list(zip(code.co_freevars, (c.cell_contents for c in closure)))
        for member_name, member in members:
            if not _inspect(member, member_name, failures, depth + 1):
                found_inner = True
    if not found_inner:
        failures.add(name)
    return False
