"""Spillback and data locality: where an attached driver's call that fits
on its own node runs (Ray's raylets spill work to nodes with room; here the
owner decides, as it decides everything else in cluster_router.py).

Here while this node has room; else on another node with room; with no
room anywhere, on the node with the fewest tasks per CPU. A call whose
arguments were made on another node goes there when it has room. What the
other nodes have free is the GCS's view (read every second) less what the
driver sent them since; this node is asked (a round trip) only when the
calls put here since the last asking, not yet gotten, may have used its
room up, so a loop of get(f.remote()) never asks."""
import time
from typing import Dict

_TASKS = " tasks"  # in _sent_since_view: how many were sent (not a resource name)


class Spill:
    """The route of a call that fits on this node: it runs here unless this
    node is busy and another has room (Spillback.place)."""

    __slots__ = ("demand",)

    def __init__(self, demand: Dict[str, float]):
        self.demand = demand


class Spillback:
    """The router's spillback decisions (see the module docstring); its
    state is guarded by the router's lock."""

    HERE_ASK_S = 0.002  # how often to ask this node what it has free, at most

    def __init__(self, router):
        self._r = router
        # What other nodes have free is the GCS's view
        # (refreshed every NODES_TTL_S) less what this driver sent them since;
        # this node's is asked of it when the calls run here since the last
        # asking (and not yet gotten by the driver) may have used it up.
        self._sent_since_view: Dict[bytes, Dict[str, float]] = {}
        self._here_free: Dict[str, float] = {}
        self._here_asked_at = float("-inf")
        self._here_load = 0.0  # tasks queued or running here when last asked
        self._here_cpus = 1.0
        self.here_inflight: Dict[bytes, Dict[str, float]] = {}  # first return id -> demand

    def new_view(self) -> None:
        """The router read the GCS's view: it counts what was sent before."""
        self._sent_since_view = {}

    def place(self, demand: Dict[str, float], nodes, deps=()):
        """Where a call that fits here runs (Ray's spillback, decided by the
        owner): on the node that holds its arguments made elsewhere if that
        node has room (data locality); else here if this node has room;
        else on another node with room, by the GCS's view less what was
        sent since; else, no node having room, on the node with the
        fewest tasks per CPU, this one on a tie (where it queues: Ray's
        nodes spill queued tasks later; the driver spreads them now)."""
        others = [n for n in nodes if n.node_id != self._r._local_id]
        if not others:
            return None
        with self._r._lock:
            holder = self._holder(deps, others)
            if holder is not None and self._view_fits(holder, demand):
                return self._take(holder, demand)
            if self._here_fits(demand):
                return None
            room = [n for n in others if self._view_fits(n, demand)]
            if room:
                return self._take(max(room, key=lambda n: self._view_free(n, "CPU")), demand)
            here = (self._here_load + len(self.here_inflight)) / self._here_cpus
            least = min(others, key=self._view_load)
            return self._take(least, demand) if self._view_load(least) < here else None

    def _holder(self, deps, nodes):
        """With self._r._lock held: the node that holds most of these
        arguments, of those not here (made there by this driver's tasks)."""
        counts: Dict[bytes, int] = {}
        for d in deps:
            obj = self._r._objects.get(d)
            if obj is not None and not obj.pulled and obj.task.node is not None:
                node_id = obj.task.node.node_id
                counts[node_id] = counts.get(node_id, 0) + 1
        if not counts:
            return None
        best = max(counts, key=counts.get)
        return next((n for n in nodes if n.node_id == best), None)

    def _view_free(self, node, resource: str) -> float:
        sent = self._sent_since_view.get(node.node_id, {})
        return node.resources_available.get(resource, 0.0) - sent.get(resource, 0.0)

    def _view_load(self, node) -> float:
        """Tasks per CPU on `node`: the GCS's view, and those sent since."""
        sent = self._sent_since_view.get(node.node_id, {}).get(_TASKS, 0.0)
        return (node.num_pending_tasks + sent) / max(node.resources_total.get("CPU", 0.0), 1.0)

    def _view_fits(self, node, demand: Dict[str, float]) -> bool:
        return all(self._view_free(node, k) >= v - 1e-9 for k, v in demand.items())

    def _take(self, node, demand: Dict[str, float]):
        sent = self._sent_since_view.setdefault(node.node_id, {})
        for k, v in demand.items():
            sent[k] = sent.get(k, 0.0) + v
        sent[_TASKS] = sent.get(_TASKS, 0.0) + 1
        return node

    def _here_fits(self, demand: Dict[str, float]) -> bool:
        """With self._r._lock held: whether this node has room for `demand`,
        counting the calls run here since it was last asked that the
        driver has not gotten yet; asked again (a round trip) when they
        may have used it up, at most every HERE_ASK_S unless it had room."""
        def fits():
            used: Dict[str, float] = {}
            for d in self.here_inflight.values():
                for k, v in d.items():
                    used[k] = used.get(k, 0.0) + v
            return all(self._here_free.get(k, 0.0) - used.get(k, 0.0) >= v - 1e-9
                       for k, v in demand.items())
        if fits():
            return True
        had_room = all(self._here_free.get(k, 0.0) >= v - 1e-9 for k, v in demand.items())
        now = time.monotonic()
        if not had_room and now - self._here_asked_at < self.HERE_ASK_S:
            return False
        reply = self._r._w.core.resources()
        # Tasks queued here (waiting for a worker, say) will take what looks free.
        self._here_free = {} if reply.num_queued else dict(reply.available)
        cpus = reply.total.get("CPU", 0.0)
        self._here_cpus = max(cpus, 1.0)
        self._here_load = reply.num_queued + max(cpus - reply.available.get("CPU", 0.0), 0.0)
        self._here_asked_at = now
        self.here_inflight.clear()
        return fits()

    def ran_here(self, template, first_id: bytes) -> None:
        """A call of a template that may spill was submitted here."""
        route = template.route
        if route.__class__ is Spill and self._r._others:
            with self._r._lock:
                self.here_inflight[first_id] = route.demand

    def got(self, ids) -> None:
        """The driver has these objects: calls here that made them are done."""
        with self._r._lock:
            for i in ids:
                self.here_inflight.pop(i, None)
