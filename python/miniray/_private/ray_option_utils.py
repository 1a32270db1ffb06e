"""Options of tasks, actors and actor methods: which exist, and their checks.

As Ray's `_private/ray_option_utils.py`: every option name that `@remote`,
`.options()` and `init()` accept is listed here, and each value is checked
here, once, with a TypeError or ValueError that names the option.
"""
import math
from typing import Any, Dict, Iterable, Optional

# Options a task accepts, as Ray's remote function options.
TASK_OPTIONS = frozenset({
    "num_returns", "num_cpus", "num_gpus", "resources", "max_retries",
    "retry_exceptions", "name", "runtime_env", "memory", "scheduling_strategy",
    "accelerator_type", "max_calls", "_metadata", "label_selector",
    "priority",  # a miniray extension (the design document's task priorities)
})

ACTOR_OPTIONS = frozenset({
    "num_cpus", "num_gpus", "resources", "memory", "max_restarts", "max_task_retries",
    "max_concurrency", "name", "namespace", "get_if_exists", "lifetime", "runtime_env",
    "scheduling_strategy", "max_pending_calls", "concurrency_groups", "accelerator_type",
    "_metadata", "label_selector", "enable_task_events",
})

METHOD_OPTIONS = frozenset({
    "num_returns", "name", "max_task_retries", "retry_exceptions", "concurrency_group",
    "enable_task_events", "priority",
})


# What the node accepts (cpp/src/node/message_validator.h): larger values
# are refused here, with the option's name, before anything is sent.
MAX_RESOURCE_AMOUNT = 1e15
MAX_NUM_RETURNS = 100_000
INT32_MAX = 2 ** 31 - 1


def check_number(name: str, value, *, allow_none: bool = True, integer: bool = False,
                 minimum: float = 0, maximum: Optional[float] = None) -> None:
    """A finite number (an int if `integer`) in [minimum, maximum], or None
    if allowed. Resource amounts default to at most MAX_RESOURCE_AMOUNT."""
    if value is None and allow_none:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be a{'n integer' if integer else ' number'}, "
                        f"got {value!r} of type {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is None:
        maximum = INT32_MAX if integer else MAX_RESOURCE_AMOUNT
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum:g}, got {value}")


def check_resources(resources) -> None:
    """A `resources` dict of custom resource amounts."""
    if resources is None:
        return
    if not isinstance(resources, dict):
        raise TypeError(f"resources must be a dict, got {type(resources).__name__}")
    for k, v in resources.items():
        if k in ("CPU", "GPU"):
            raise ValueError("Use the 'num_cpus' and 'num_gpus' keyword instead of "
                             "'CPU' and 'GPU' in 'resources' keyword")
        check_number(f"resources[{k!r}]", v, allow_none=False)


def validate_options(options: Dict[str, Any], allowed: Iterable[str], what: str) -> Dict[str, Any]:
    """Checks option names and values; returns them unchanged."""
    for key in options:
        if key not in allowed:
            raise ValueError(f"Invalid option keyword {key} for {what}. "
                             f"Valid ones are {sorted(allowed)}.")
    for key in ("num_cpus", "num_gpus", "memory"):
        check_number(key, options.get(key))
    n = options.get("num_returns")
    if n not in ("dynamic", "streaming"):  # (generator tasks)
        check_number("num_returns", n, integer=True, maximum=MAX_NUM_RETURNS)
    # -1 means "forever" for retries and restarts, as in Ray.
    for key in ("max_retries", "max_restarts", "max_task_retries"):
        check_number(key, options.get(key), integer=True, minimum=-1)
    check_number("max_concurrency", options.get("max_concurrency"), integer=True, minimum=1)
    check_number("priority", options.get("priority"), integer=True, minimum=-INT32_MAX - 1)
    check_number("max_pending_calls", options.get("max_pending_calls"), integer=True,
                 minimum=-1)
    groups = options.get("concurrency_groups")
    if groups is not None:
        if not isinstance(groups, dict) or not groups:
            raise TypeError(f"concurrency_groups must be a dict of group name to limit, "
                            f"got {groups!r}")
        for name, limit in groups.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"concurrency_groups: a group name must be a string, "
                                f"got {name!r}")
            check_number(f"concurrency_groups[{name!r}]", limit, allow_none=False,
                         integer=True, minimum=1)
    check_scheduling_strategy(options.get("scheduling_strategy"))
    group = options.get("concurrency_group")
    if group is not None and not isinstance(group, str):
        raise TypeError(f"concurrency_group must be a string, got {group!r}")
    check_resources(options.get("resources"))
    rex = options.get("retry_exceptions")
    if rex is not None and not isinstance(rex, (bool, list, tuple)):
        raise TypeError("retry_exceptions must be a bool or a list of exception types")
    if isinstance(rex, (list, tuple)):
        for t in rex:
            if not (isinstance(t, type) and issubclass(t, BaseException)):
                raise TypeError(f"retry_exceptions must list exception classes, got {t!r}")
    if "runtime_env" in options:  # checked, and made plain JSON (paths)
        from miniray._private import runtime_env
        options["runtime_env"] = runtime_env.validate(options["runtime_env"])
    return options


def check_scheduling_strategy(strategy) -> None:
    """None, "DEFAULT", "SPREAD", or a miniray.util.scheduling_strategies
    object."""
    if strategy is None or strategy in ("DEFAULT", "SPREAD"):
        return
    from miniray.util.scheduling_strategies import (
        NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy)
    if not isinstance(strategy, (NodeAffinitySchedulingStrategy,
                                 PlacementGroupSchedulingStrategy)):
        raise ValueError(f"scheduling_strategy must be 'DEFAULT', 'SPREAD', a "
                         f"PlacementGroupSchedulingStrategy or a "
                         f"NodeAffinitySchedulingStrategy, got {strategy!r}")


def placement_of(strategy, captured_group: Optional[bytes]):
    """(placement group id, bundle index, capture child tasks) for a task's
    spec, from its scheduling_strategy, else from the group the running
    task captures its children in; None if it is placed freely."""
    from miniray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
    if isinstance(strategy, PlacementGroupSchedulingStrategy):
        return (strategy.placement_group.id.binary(), strategy.placement_group_bundle_index,
                strategy.placement_group_capture_child_tasks)
    if strategy is None and captured_group:
        return (captured_group, -1, True)
    return None


def unschedulable_reason(strategy, live_node_ids: Iterable[str]) -> Optional[str]:
    """Why a task or actor can never be scheduled, or None."""
    from miniray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    if isinstance(strategy, NodeAffinitySchedulingStrategy) and not strategy.soft and \
            strategy.node_id not in set(live_node_ids):
        return (f"it has a hard affinity to node {strategy.node_id}, which is not alive in "
                f"the cluster (NodeAffinitySchedulingStrategy(soft=False))")
    return None


def resource_demand(options: Dict[str, Any], default_cpus: float) -> Dict[str, float]:
    """The resources a task or actor asks for, by Ray's names (zeros dropped)."""
    demand = {}
    cpus = options.get("num_cpus")
    demand["CPU"] = float(default_cpus if cpus is None else cpus)
    if options.get("num_gpus"):
        demand["GPU"] = float(options["num_gpus"])
    if options.get("memory"):
        demand["memory"] = float(options["memory"])
    for k, v in (options.get("resources") or {}).items():
        demand[k] = float(v)
    return {k: v for k, v in demand.items() if v}
