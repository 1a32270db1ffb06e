"""Placement groups (as ray.util.placement_group): bundles of resources
reserved together, for tasks and actors to run in.

    pg = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="PACK")
    miniray.get(pg.ready())
    f.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg)).remote()

The node reserves a group once all its bundles fit (cpp/src/scheduler/
placement_groups.h); a task placed in it uses the group's resources, not
the node's free ones. On one node PACK, SPREAD and STRICT_PACK all hold the
bundles there; STRICT_SPREAD of several bundles needs several nodes and
stays pending. A driver attached to a cluster of several nodes places the
bundles on the nodes by the strategy (cluster_router.py: all bundles are
reserved, or none), and sends the calls placed in the group to the node of
their bundle; such a group is known to the driver that made it (a detached
group stays on the driver's node). A group ends with the job that made it (unless
lifetime="detached") or with remove_placement_group(), which stops what
runs in it.
"""
import os
from typing import Any, Dict, List, Optional

import miniray
from miniray._private import worker as worker_mod
from miniray._private.ray_option_utils import check_number
from miniray._private.worker_state import global_worker

STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


class PlacementGroupID:
    """A placement group's id."""

    def __init__(self, binary: bytes):
        self._binary = binary

    def binary(self) -> bytes:
        return self._binary

    def hex(self) -> str:
        return self._binary.hex()

    def __eq__(self, other):
        return isinstance(other, PlacementGroupID) and other._binary == self._binary

    def __hash__(self):
        return hash(self._binary)

    def __repr__(self):
        return f"PlacementGroupID({self.hex()})"


@miniray.remote(num_cpus=0)
def _bundle_reservation_check(_placement_group_id):
    return True


class PlacementGroup:
    """A handle to a placement group (picklable: tasks may use it too)."""

    def __init__(self, id: PlacementGroupID, bundle_specs: List[Dict[str, float]]):
        self.id = id
        self.bundle_specs = bundle_specs

    @property
    def bundle_count(self) -> int:
        return len(self.bundle_specs)

    def ready(self) -> "miniray.ObjectRef[bool]":
        """An ObjectRef that resolves (to True) once the group is reserved:
        a task placed in the group, as Ray's ready() is (for a group across
        nodes, an object the driver makes as soon as it is reserved)."""
        w = worker_mod.global_worker
        if w.router is not None:
            ref = w.router.groups.ready_ref(self.id.binary())
            if ref is not None:
                return ref
        from miniray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
        strategy = PlacementGroupSchedulingStrategy(self)
        return _bundle_reservation_check.options(scheduling_strategy=strategy).remote(
            self.id.hex())

    def wait(self, timeout_seconds: Optional[float] = 30) -> bool:
        """Whether the group was reserved within `timeout_seconds`."""
        ready, _ = miniray.wait([self.ready()], timeout=timeout_seconds)
        return bool(ready)

    def __eq__(self, other):
        return isinstance(other, PlacementGroup) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"PlacementGroup(id={self.id.hex()}, bundles={self.bundle_specs})"


def placement_group(bundles: List[Dict[str, float]], strategy: str = "PACK", name: str = "",
                    lifetime: Optional[str] = None,
                    _soft_target_node_id: Optional[str] = None) -> PlacementGroup:
    """Asks to reserve `bundles` together; returns at once (see ready()).

    Args:
        bundles: one dict of resources per bundle, e.g. [{"CPU": 2}, {"GPU": 1}].
        strategy: "PACK" (default), "SPREAD", "STRICT_PACK" or "STRICT_SPREAD".
        name: a name get_placement_group() finds it by.
        lifetime: None (ends with the job) or "detached".
        _soft_target_node_id: a node (hex id) to put the bundles on first,
            if they fit there (a group across nodes; on one node it is
            that node).

    Returns:
        A PlacementGroup.

    Raises:
        ValueError: no bundles, an empty bundle, a negative or non-finite
            amount, an unknown strategy or lifetime.
    """
    from _miniray_core import rpc

    if not isinstance(bundles, (list, tuple)) or not bundles:
        raise ValueError("The placement group `bundles` argument cannot contain an empty list")
    specs = []
    for i, bundle in enumerate(bundles):
        if not isinstance(bundle, dict):
            raise ValueError(f"bundles[{i}] must be a dict of resources, got {bundle!r}")
        for k, v in bundle.items():
            if not isinstance(k, str) or not k or "_group_" in k:
                raise ValueError(f"bundles[{i}]: {k!r} is not a resource name")
            check_number(f"bundles[{i}][{k!r}]", v, allow_none=False)
        if not any(v > 0 for v in bundle.values()):
            raise ValueError(f"Bundles cannot be an empty dictionary or resources with only 0 "
                             f"values. Bundles: {bundles}")
        specs.append({k: float(v) for k, v in bundle.items()})
    if strategy not in STRATEGIES:
        raise ValueError(f"Invalid placement group strategy {strategy!r}; one of {STRATEGIES}")
    if lifetime not in (None, "detached"):
        raise ValueError(f"lifetime must be None or 'detached', got {lifetime!r}")
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    w = worker_mod._ensure_connected()
    pg_id = PlacementGroupID(os.urandom(16))
    if w.router is not None and lifetime is None and w.router.groups.spans_nodes():
        # A driver attached to a cluster of several nodes: its router places
        # the bundles on the nodes (cluster_router.py).
        target = b""
        if _soft_target_node_id is not None:
            try:
                target = bytes.fromhex(_soft_target_node_id)
            except (TypeError, ValueError):
                raise ValueError(f"_soft_target_node_id must be a node id in hex, got "
                                 f"{_soft_target_node_id!r}") from None
        w.router.groups.create(pg_id.binary(), specs, strategy, name, target)
        return PlacementGroup(pg_id, specs)
    w.core.create_placement_group(rpc.CreatePlacementGroupRequest(
        placement_group_id=pg_id.binary(), name=name,
        strategy=getattr(rpc.PlacementStrategy, strategy),
        bundles=[rpc.Bundle(resources=spec) for spec in specs],
        detached=lifetime == "detached"))
    return PlacementGroup(pg_id, specs)


def remove_placement_group(placement_group: PlacementGroup) -> None:
    """Releases the group's bundles; tasks and actors running in it stop.

    Raises:
        TypeError: not a PlacementGroup.
    """
    if not isinstance(placement_group, PlacementGroup):
        raise TypeError(f"remove_placement_group expects a PlacementGroup, "
                        f"got {type(placement_group).__name__}")
    w = worker_mod._ensure_connected()
    if w.router is not None and w.router.groups.remove(placement_group.id.binary()):
        return
    w.core.remove_placement_group(placement_group.id.binary())


_STATES = {0: "PENDING", 1: "CREATED", 2: "REMOVED"}


def _table(core: Any = None) -> List[Dict[str, Any]]:
    """Every group's row, from this process's node (or `core`'s), and the
    groups across nodes this driver made."""
    router = None
    if core is None:
        w = worker_mod._ensure_connected()
        core, router = w.core, w.router
    node_id = core.node_id
    rows = router.groups.rows() if router is not None else []
    across = {row["placement_group_id"] for row in rows}
    for g in core.placement_group_table().groups:
        if g.placement_group_id.hex() in across:
            continue  # this node's part of one of them
        bundles = {i: dict(b.resources) for i, b in enumerate(g.bundles)}
        state = _STATES[int(g.state)]
        rows.append({
            "placement_group_id": g.placement_group_id.hex(),
            "name": g.name,
            "bundles": bundles,
            "bundles_to_node_id": ({i: node_id for i in bundles} if state == "CREATED"
                                   else {}),
            "strategy": STRATEGIES[int(g.strategy)],
            "state": state,
        })
    return rows


def placement_group_table(placement_group: Optional[PlacementGroup] = None) -> Dict[str, Any]:
    """The state of one group (a dict: placement_group_id, name, bundles,
    bundles_to_node_id, strategy, state), or of all, by id."""
    rows = {row["placement_group_id"]: row for row in _table()}
    if placement_group is None:
        return rows
    return rows.get(placement_group.id.hex(), {})


def get_placement_group(placement_group_name: str) -> PlacementGroup:
    """The live group of that name.

    Raises:
        ValueError: none has it.
    """
    for row in reversed(_table()):
        if row["name"] == placement_group_name and row["state"] != "REMOVED":
            return PlacementGroup(PlacementGroupID(bytes.fromhex(row["placement_group_id"])),
                                  [row["bundles"][i] for i in sorted(row["bundles"])])
    raise ValueError(f"Failed to look up placement group with name: {placement_group_name}")


def get_current_placement_group() -> Optional[PlacementGroup]:
    """The group the running task or actor was placed in, if it captures
    its child tasks there (placement_group_capture_child_tasks=True), as in
    Ray; None otherwise (and in the driver)."""
    pg_id = global_worker.current_capture_group
    if not pg_id:
        return None
    row = placement_group_table(PlacementGroup(PlacementGroupID(pg_id), []))
    bundles = row.get("bundles", {})
    return PlacementGroup(PlacementGroupID(pg_id), [bundles[i] for i in sorted(bundles)])
