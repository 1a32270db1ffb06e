"""Scheduling strategies (as ray.util.scheduling_strategies), for the
`scheduling_strategy` option of tasks and actors.

"DEFAULT" and "SPREAD" are accepted as strings (on one node both place
the task here; across nodes see docs/cluster.md). PlacementGroupScheduling-
Strategy runs it in a placement group's bundles. NodeAffinitySchedulingStrategy
names a node; with soft=True any; a hard affinity to a node that is not in
the cluster makes
the task fail with TaskUnschedulableError (an actor's creation raises
ActorUnschedulableError), as Ray's does.
"""
from typing import Optional

from miniray.util.placement_group import PlacementGroup


class PlacementGroupSchedulingStrategy:
    """Run in `placement_group`: in bundle `placement_group_bundle_index`, or
    in any of its bundles (-1). With placement_group_capture_child_tasks,
    the tasks it submits (that name no strategy) run in the group too."""

    def __init__(self, placement_group: PlacementGroup, placement_group_bundle_index: int = -1,
                 placement_group_capture_child_tasks: Optional[bool] = None):
        if not isinstance(placement_group, PlacementGroup):
            raise TypeError(f"placement_group must be a PlacementGroup, got "
                            f"{type(placement_group).__name__}")
        index = placement_group_bundle_index
        if isinstance(index, bool) or not isinstance(index, int) or not (
                -1 <= index < placement_group.bundle_count):
            raise ValueError(f"placement_group_bundle_index must be -1 or in "
                             f"[0, {placement_group.bundle_count}), got {index!r}")
        self.placement_group = placement_group
        self.placement_group_bundle_index = index
        self.placement_group_capture_child_tasks = bool(placement_group_capture_child_tasks)


class NodeAffinitySchedulingStrategy:
    """Run on the node `node_id` (hex); with soft=True elsewhere if it is not
    there."""

    def __init__(self, node_id: str, soft: bool, _spill_on_unavailable: bool = False,
                 _fail_on_unavailable: bool = False):
        if not isinstance(node_id, str):
            raise TypeError(f"node_id must be a hex string, got {node_id!r}")
        self.node_id = node_id
        self.soft = soft
        self._spill_on_unavailable = _spill_on_unavailable
        self._fail_on_unavailable = _fail_on_unavailable


__all__ = ["NodeAffinitySchedulingStrategy", "PlacementGroupSchedulingStrategy"]
