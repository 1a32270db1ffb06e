"""Placement groups across nodes: an attached driver places each bundle of
a group on a node, asks every node for its part, and sends the calls
placed in the group to their bundle's node once all parts are reserved
(Ray: the GCS's placement group scheduler and its two-phase commit, with
the driver as the coordinator). Used by cluster_router.ClusterRouter
(`router.groups`); the node's side is peer_service.py (CreatePlacementGroup,
RemovePlacementGroup) and scheduler/placement_groups.h (a part's resources
are named with the group's bundle indices)."""
import logging
import threading
from typing import Any, Dict, List, Optional

import _miniray_core
from _miniray_core import rpc

from miniray import exceptions
from miniray._private import serialization
from miniray._private.node_network import CALL_TIMEOUT_S, reserve_group, store_bytes, store_error
from miniray._private.object_ref import ObjectRef

logger = logging.getLogger("miniray")


class _ClusterGroup:
    """A placement group made by this driver whose bundles may go to
    several nodes (Ray: the GCS's placement group scheduler). The router
    places each bundle on a node from the GCS's view of free resources,
    asks every node for its part, and only once all are reserved (CREATED)
    sends the calls placed in the group, which wait here until then; if a
    part cannot be had, every part is given back and the group is placed
    again: all bundles or none. When a node holding bundles dies, those
    bundles are placed again on other nodes (RESCHEDULING, as Ray's), and
    the calls for the group wait until they are."""

    __slots__ = ("id", "specs", "strategy", "name", "target", "state", "nodes", "lost",
                 "waiting", "ready", "readies", "next", "warned")

    def __init__(self, pg_id: bytes, specs, strategy: str, name: str, target: bytes = b""):
        self.id, self.specs, self.strategy, self.name = pg_id, specs, strategy, name
        self.target = target  # _soft_target_node_id: the node tried first
        self.state = "PENDING"  # CREATED, RESCHEDULING, REMOVED
        self.lost: List[int] = []  # RESCHEDULING: the bundles to place again
        self.nodes: List[Any] = []  # the node of each bundle, once CREATED
        self.waiting: List[Any] = []  # calls placed in it before it was created
        self.ready = threading.Event()  # CREATED or REMOVED
        self.readies: List[bytes] = []  # ready()'s objects, made once it is
        self.next = 0  # round robin over its nodes for calls in any bundle
        self.warned = False


def plan_bundles(specs: List[Dict[str, float]], strategy: str, nodes, local_id: bytes,
                 target: bytes = b""):
    """The node of each bundle, or None if they do not fit now, from what
    each node has free (`nodes`: GcsNodeInfo rows). PACK puts them on as few
    nodes as it can (`target` first, then this one), STRICT_PACK on one,
    SPREAD across as many as it can, STRICT_SPREAD each on its own node."""
    order = sorted(nodes, key=lambda n: (n.node_id != target, n.node_id != local_id))
    free = {n.node_id: dict(n.resources_available) for n in order}

    def fits(node, demand):
        return all(free[node.node_id].get(k, 0.0) >= v - 1e-9 for k, v in demand.items())

    if strategy in ("PACK", "STRICT_PACK"):
        total: Dict[str, float] = {}
        for spec in specs:
            for k, v in spec.items():
                total[k] = total.get(k, 0.0) + v
        for node in order:
            if fits(node, total):
                return [node] * len(specs)
        if strategy == "STRICT_PACK":
            return None
    plan: List[Any] = []
    for spec in specs:
        used = [n.node_id for n in plan]
        if strategy == "PACK":  # the nodes used already first
            candidates = sorted(order, key=lambda n: n.node_id not in used)
        elif strategy == "SPREAD":  # the least used first
            candidates = sorted(order, key=lambda n: used.count(n.node_id))
        else:  # STRICT_SPREAD
            candidates = [n for n in order if n.node_id not in used]
        node = next((n for n in candidates if fits(n, spec)), None)
        if node is None:
            return None
        for k, v in spec.items():
            free[node.node_id][k] = free[node.node_id].get(k, 0.0) - v
        plan.append(node)
    return plan


class ClusterGroups:
    """The groups across nodes this driver made, and their planner thread
    (see _ClusterGroup). Shares the router's lock."""

    def __init__(self, router):
        self._r = router
        self._lock = router._lock
        self._groups: Dict[bytes, _ClusterGroup] = {}
        self._changed = threading.Condition(router._lock)
        self.nodes_asked: set = set()  # nodes asked for parts (they end them with the job)
        self._lost_nodes: set = set()  # never placed on again

    def wake(self) -> None:
        """With the router's lock held: the driver is leaving."""
        self._changed.notify_all()

    def spans_nodes(self) -> bool:
        """Whether the cluster has other live nodes (placement groups made
        now may use them)."""
        with self._lock:
            self._r._nodes_at = 0.0
            return any(n.node_id != self._r._local_id for n in self._r._alive_nodes())

    def group_of(self, strategy) -> Optional[_ClusterGroup]:
        """The group across nodes a strategy names, if it is one of ours."""
        pg = getattr(strategy, "placement_group", None)
        return None if pg is None else self._groups.get(pg.id.binary())

    def bundle_node(self, group: _ClusterGroup, index: int):
        """The node of bundle `index` (-1: each of the group's nodes in turn)."""
        if index >= 0:
            return group.nodes[index]
        with self._lock:
            distinct = list({n.node_id: n for n in group.nodes}.values())
            group.next += 1
            return distinct[group.next % len(distinct)]

    def create(self, pg_id: bytes, specs: List[Dict[str, float]], strategy: str, name: str,
               target: bytes = b"") -> None:
        """A placement group whose bundles may go to several nodes; placed
        by the router's planner thread (see _ClusterGroup)."""
        with self._lock:
            first = not self._groups
            self._groups[pg_id] = _ClusterGroup(pg_id, specs, strategy, name, target)
            self._changed.notify_all()
            self._r._watch()  # its nodes' deaths are seen
        if first:
            threading.Thread(target=self._plan_loop, daemon=True,
                             name="miniray-placement-groups").start()

    def _plan_loop(self) -> None:
        """Places the pending groups, oldest first, until the driver leaves:
        each try reads the GCS's view of what the nodes have free."""
        backoff = 0.05
        while True:
            with self._lock:
                pending = [g for g in self._groups.values()
                           if g.state in ("PENDING", "RESCHEDULING")]
                if self._r._closed:
                    return
                if not pending:
                    self._changed.wait()
                    backoff = 0.05
                    continue
            if all(self._try_place(g) for g in pending):
                backoff = 0.05
                continue
            with self._lock:  # a part did not fit: try again once the view moved
                self._changed.wait(backoff)
            backoff = min(backoff * 2, 1.0)

    def node_lost(self, node_id: bytes) -> None:
        """A node died: the bundles it held are placed again elsewhere; the
        group's calls wait meanwhile."""
        with self._lock:
            self._lost_nodes.add(node_id)
            for g in self._groups.values():
                lost = [i for i, n in enumerate(g.nodes)
                        if n.node_id == node_id and i not in g.lost]
                if g.state in ("CREATED", "RESCHEDULING") and lost:
                    g.state = "RESCHEDULING"
                    g.lost = sorted(set(g.lost) | set(lost))
                    g.ready.clear()
                    logger.warning("placement group %s lost bundles %s with node %s; they "
                                   "are placed again", g.id.hex(), lost, node_id.hex())
            self._changed.notify_all()

    def any_created(self) -> bool:
        """With the router's lock held: whether a group holds bundles."""
        return any(g.state == "CREATED" for g in self._groups.values())

    def holds_bundles_on(self, alive: set) -> set:
        """The nodes not in `alive` that hold bundles of a group."""
        with self._lock:
            return {n.node_id for g in self._groups.values() if g.state == "CREATED"
                    for n in g.nodes if n.node_id not in alive}

    def wait_or_send(self, task) -> None:
        """A call of a group that is being placed again waits for it."""
        group = self.group_of(task.template.strategy)
        with self._lock:
            if group is not None and not group.ready.is_set():
                group.waiting.append(task)
                return
        self._r._send_in_group(task)

    def _try_place(self, group: _ClusterGroup) -> bool:
        """One try at reserving `group` (or, RESCHEDULING, its lost
        bundles, on nodes that hold none of it): whether it is reserved now."""
        with self._lock:
            self._r._nodes_at = 0.0
            state = group.state
            indices = list(group.lost) if state == "RESCHEDULING" else \
                list(range(len(group.specs)))
            avoid = set(self._lost_nodes)
            if state == "RESCHEDULING":  # a node's part is one request: not added to
                avoid |= {n.node_id for i, n in enumerate(group.nodes) if i not in indices}
            nodes = [n for n in self._r._alive_nodes() if n.node_id not in avoid]
        found = plan_bundles([group.specs[i] for i in indices], group.strategy, nodes,
                             self._r._local_id, group.target)
        plan = None if found is None else dict(zip(indices, found))
        if plan is None:
            if not group.warned:
                group.warned = True
                logger.warning(
                    "placement group %s (%s, bundles %s) cannot be placed on the cluster's "
                    "free resources now; it stays pending", group.id.hex(), group.strategy,
                    group.specs)
            return False
        parts: Dict[str, List[int]] = {}
        for index, node in plan.items():
            parts.setdefault(self._r._address(node), []).append(index)
        # Every node's part at once (each call waits for its node to reserve).
        asked = list(parts)
        results: Dict[str, bool] = {}
        threads = [threading.Thread(
            target=lambda a=address, p=part: results.__setitem__(
                a, self._reserve_part(a, group, p)), daemon=True) for address, part in
            list(parts.items())[1:]]
        for t in threads:
            t.start()
        first = asked[0]
        results[first] = self._reserve_part(first, group, parts[first])
        for t in threads:
            t.join()
        reserved = all(results.get(a, False) for a in asked)
        with self._lock:
            if reserved and group.state == state:
                if state == "PENDING":
                    group.nodes = [plan[i] for i in indices]
                else:
                    for i in indices:
                        group.nodes[i] = plan[i]
                    # Another node may have died meanwhile: its bundles next.
                    group.lost = [i for i in group.lost if i not in indices]
                if group.lost:
                    waiting = []
                else:
                    group.state = "CREATED"
                    waiting, group.waiting = group.waiting, []
                    group.ready.set()
            else:
                waiting = None
        if waiting is None:  # all or none: give back the parts reserved
            for address in asked:
                self._release_part(address, group)
            return group.state != state
        if group.state == "CREATED":
            self._tell_ready(group)
        for task in waiting:
            self._r._send_in_group(task)
        return group.state == "CREATED"

    def ready_ref(self, pg_id: bytes) -> Optional[ObjectRef]:
        """ready() of a group across nodes: an object made here as soon as
        the group is reserved (True), or removed first (an error); None if
        it is not such a group."""
        group = self._groups.get(pg_id)
        if group is None:
            return None
        core = self._r._w.core
        object_id = _miniray_core.new_object_id()
        core.expect_object(object_id)  # held by the router until made
        ref = ObjectRef(object_id, core)
        with self._lock:
            if not group.ready.is_set():
                group.readies.append(object_id)
                return ref
        self._answer_ready(group, object_id)
        return ref

    def _tell_ready(self, group: _ClusterGroup) -> None:
        with self._lock:
            readies, group.readies = group.readies, []
        for object_id in readies:
            self._answer_ready(group, object_id)

    def _answer_ready(self, group: _ClusterGroup, object_id: bytes) -> None:
        core = self._r._w.core
        if group.state == "CREATED":
            store_bytes(core, object_id, memoryview(serialization.serialize(True).to_bytes()))
        else:
            store_error(core, object_id, exceptions.TaskUnschedulableError(
                f"placement group {group.id.hex()} was removed before it was ready"))
        core.remove_local_ref(object_id)

    def _group_request(self, group: _ClusterGroup, indices=()):
        req = rpc.PeerPlacementGroupRequest(job_id=self._r._job_id,
                                            driver_node_id=self._r._local_id,
                                            job=self._r._job_config, wait_s=2.0)
        req.group = rpc.CreatePlacementGroupRequest(
            placement_group_id=group.id, name=group.name,
            strategy=getattr(rpc.PlacementStrategy, group.strategy),
            bundles=[rpc.Bundle(resources=group.specs[i]) for i in indices],
            bundle_indices=list(indices))
        return req.serialize()

    def _reserve_part(self, address: str, group: _ClusterGroup, indices: List[int]) -> bool:
        with self._lock:
            self.nodes_asked.add(address)
        try:
            if address == self._r._local_address:  # this node: through the driver's client
                req = rpc.parse("PeerPlacementGroupRequest", self._group_request(group, indices))
                row = reserve_group(self._r._w.core, req.group, req.wait_s)
            else:
                row = rpc.parse("PlacementGroupInfo", self._r._client(address).call(
                    "CreatePlacementGroup", self._group_request(group, indices),
                    CALL_TIMEOUT_S))
        except Exception as e:  # noqa: BLE001 - the node is gone: placed again
            if not group.warned:
                group.warned = True
                logger.warning("node %s could not reserve its part of placement group %s: %s",
                               address, group.id.hex(), e)
            return False
        return int(row.state) == 1  # CREATED

    def _release_part(self, address: str, group: _ClusterGroup) -> None:
        try:
            if address == self._r._local_address:
                self._r._w.core.remove_placement_group(group.id)
                return
            self._r._client(address).call("RemovePlacementGroup",
                                          self._group_request(group), 30.0)
        except Exception:  # noqa: BLE001 - the node is gone, and the part with it
            pass

    def remove(self, pg_id: bytes) -> bool:
        """Removes a group across nodes (what runs in it stops); False if
        it is not one."""
        with self._lock:
            group = self._groups.get(pg_id)
            if group is None:
                return False
            created = group.state in ("CREATED", "RESCHEDULING")
            group.state = "REMOVED"
            waiting, group.waiting = group.waiting, []
            group.ready.set()
            self._changed.notify_all()
        self._tell_ready(group)
        if created:
            for address in {self._r._address(n) for n in group.nodes
                            if n.node_id not in self._lost_nodes}:
                self._release_part(address, group)
        for task in waiting:
            self._r._send_in_group(task)  # fails: the group is gone
        return True

    def rows(self) -> List[Dict[str, Any]]:
        """placement_group_table's rows of the groups across nodes."""
        with self._lock:
            groups = list(self._groups.values())
        return [{
            "placement_group_id": g.id.hex(),
            "name": g.name,
            "bundles": dict(enumerate(g.specs)),
            "bundles_to_node_id": ({i: n.node_id.hex() for i, n in enumerate(g.nodes)}
                                   if g.state == "CREATED" else {}),
            "strategy": g.strategy,
            "state": g.state,
        } for g in groups]
