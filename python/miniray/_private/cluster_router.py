"""ClusterRouter: where an attached driver's tasks and actors run, and
how their returns come back from other nodes (Ray: the owner's task
submitter, reference counter and object recovery). See node_network.py."""
import logging
import os
import queue
import threading
import time
from typing import Any, Dict, List, Optional

import _miniray_core
from _miniray_core import Message, rpc

from miniray import exceptions
from miniray._private import serialization
from miniray._private.node_network import (
    CALL_TIMEOUT_S, MAX_BATCH, PULL_TIMEOUT_S, NodeClients, pull_into, store_bytes, store_error)
from miniray._private.cluster_groups import ClusterGroups
from miniray._private.object_ref import ObjectRef
from miniray._private.spillback import Spill, Spillback
from miniray._private.worker_state import global_worker

logger = logging.getLogger("miniray")


INLINE_WAIT_S = 0.002  # how long a node waits for a task sent alone, to answer with its returns
INLINE_SKIP = 50  # after a wait in vain, that function's next calls are not waited for


class _RemoteTask:
    """A task the driver sent to another node: what it takes to send it again."""

    __slots__ = ("template", "blob", "deps", "dep_refs", "local_ids", "retries_left", "node",
                 "remote_ids", "sent", "actor", "open", "lost_from")

    def __init__(self, template, blob, deps, dep_refs, local_ids, node, actor=None):
        self.template = template
        self.blob = blob
        self.deps = deps
        # The arguments, held while a return may have to be made again.
        self.dep_refs = dep_refs
        self.local_ids = local_ids
        max_retries = template.spec.max_retries
        self.retries_left = float("inf") if max_retries < 0 else max_retries
        self.node = node
        self.remote_ids: Optional[List[bytes]] = None
        self.sent = threading.Event()  # the node answered (or the task failed)
        self.actor: Optional["_RemoteActor"] = actor  # an actor call's actor
        # Returns still in the router's table: while any is, the arguments
        # are kept (the task may have to run again).
        self.open = len(local_ids)
        self.lost_from: Optional[str] = None  # the node it was lost with, once handled


class _RemoteActor:
    """An actor this driver uses on another node. Calls go to `node`, to the
    actor `remote_id` there; when the node dies, an actor this driver made
    is made again elsewhere while it has restarts (max_restarts), under a
    new remote id (the driver's handles keep the first one)."""

    __slots__ = ("creation", "strategy", "blob", "deps", "dep_refs", "node", "remote_id",
                 "restarts_left", "dead", "owned", "passed", "lock")

    def __init__(self, node, remote_id: bytes, creation=None, strategy=None, blob=b"",
                 deps=(), dep_refs=()):
        self.creation = creation  # its creation TaskSpec (None: another driver's)
        self.strategy = strategy
        self.blob, self.deps, self.dep_refs = blob, list(deps), list(dep_refs)
        self.node = node
        self.remote_id = remote_id
        restarts = creation.actor_creation_task_spec.max_actor_restarts if creation else 0
        self.restarts_left = float("inf") if restarts < 0 else restarts
        self.dead: Optional[str] = None  # why, once it is
        self.owned = creation is not None
        # Its handle was passed to a task or actor: it lives until the job
        # ends (or it is killed), since the driver does not know when the
        # processes it reached drop their copies (Ray's borrowers tell).
        self.passed = False
        self.lock = threading.Lock()


class _Placement:
    """What place() reads of an actor's creation: its spec and strategy."""

    __slots__ = ("spec", "strategy", "generator", "route")

    def __init__(self, spec, strategy):
        self.spec, self.strategy, self.generator, self.route = spec, strategy, 0, None


class _RemoteObject:
    """A return of a remote task, by its id in this node's table. The node
    that made it keeps it until the driver has it here (pulled) or dropped
    it (released), and no task that takes it may still need it there
    (holders): then the router frees it there (_settle)."""

    __slots__ = ("task", "index", "pulling", "pulled", "released", "holders", "wanted")

    def __init__(self, task: _RemoteTask, index: int):
        self.task = task
        self.index = index
        self.pulling = False
        self.pulled = False
        self.released = False
        self.holders = 0  # unfinished remote tasks (and actors) that take it
        self.wanted = False  # something here needs it (get, wait, a local task)


class ClusterRouter:
    """Places an attached driver's tasks on the cluster's nodes (see the
    module docstring)."""

    NODES_TTL_S = 1.0

    def __init__(self, w, gcs, token: str, borrower: bool = False):
        self._w = w
        self._gcs = gcs
        # A worker's router (borrower_router): it only calls actors on other
        # nodes whose handles it was passed; its own tasks stay on its node.
        self._borrower = borrower
        self._job_config = w.job_config if w.job_config is not None else rpc.JobConfig(
            worker_env=[f"{k}={v}" for k, v in os.environ.items()],  # its job's
            ray_namespace=getattr(w, "namespace", None) or "default",
            entrypoint=f"miniray worker {os.getpid()} (calls to actors on other nodes)")
        self._lock = threading.RLock()
        self._nodes: List[Any] = []
        self._nodes_at = 0.0
        self._local_id = bytes.fromhex(w.core.node_id)
        self._local_address: Optional[str] = None
        self._spread = 0
        self._client = NodeClients(token).get  # a node's NodeService client, by address
        self._senders: Dict[str, queue.Queue] = {}
        self._objects: Dict[bytes, _RemoteObject] = {}
        self._exported: Dict[str, set] = {}  # node address -> function ids sent there
        self.function_blobs: Dict[bytes, bytes] = {}
        self._fits: Dict[tuple, bool] = {}
        self.actors: Dict[bytes, _RemoteActor] = {}  # by the id its handles know
        self._no_inline: Dict[bytes, int] = {}  # functions not waited for, how many more times
        self._job_id = bytes.fromhex(w.core.job_id)
        self._closed = False
        self.groups = ClusterGroups(self)  # placement groups across nodes
        self._others = False  # other nodes are alive
        self.spill = Spillback(self)  # where calls that fit here run
        self.show_logs = True  # init(log_to_driver=False): no
        self._watching = False
        self._followers: Dict[str, threading.Thread] = {}  # by node: their output

    # Placement --------------------------------------------------------------

    def _alive_nodes(self) -> List[Any]:
        now = time.monotonic()
        if now - self._nodes_at > self.NODES_TTL_S:
            nodes = [n for n in self._gcs.nodes() if n.alive and n.node_manager_port > 0]
            nodes.sort(key=lambda n: n.node_id)
            self._nodes, self._nodes_at = nodes, now
            self._others = any(n.node_id != self._local_id for n in nodes)
            self.spill.new_view()
            for n in nodes:
                if n.node_id == self._local_id:
                    self._local_address = self._address(n)
        return self._nodes

    def wants(self, template) -> bool:
        """Whether a call of this template may run elsewhere than here
        (decided once per template: this is on every call's path; a call
        that fits here may still spill while other nodes are alive)."""
        if self._borrower:
            return False
        route = template.route
        if route is None:
            route = template.route = self._may_move(template)
        if route.__class__ is Spill:
            if time.monotonic() - self._nodes_at > self.NODES_TTL_S:
                with self._lock:
                    self._alive_nodes()
            return self._others
        return route

    def _may_move(self, template):
        if template.generator:
            return False
        strategy = template.strategy
        if strategy is not None and strategy != "DEFAULT":
            return not hasattr(strategy, "placement_group") or self.groups.group_of(strategy) is not None
        if not self._fits_here(template.spec):
            return True
        return Spill(dict(template.spec.required_resources))

    def _fits_here(self, spec) -> bool:
        """Whether this node has the resources of `spec` at all (cached)."""
        demand = tuple(sorted(dict(spec.required_resources).items()))
        fits = self._fits.get(demand)
        if fits is None:
            total = dict(self._w.core.resources().total)
            fits = self._fits[demand] = all(total.get(k, 0.0) >= v for k, v in demand)
        return fits

    def place(self, template, exclude=(), deps=()) -> Any:
        """The node a call runs on: a GcsNodeInfo, or None for this node."""
        from miniray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        with self._lock:
            nodes = [n for n in self._alive_nodes() if n.node_id not in exclude]
        strategy = template.strategy
        group = self.groups.group_of(strategy)
        if group is not None:
            if group.state == "REMOVED":
                raise exceptions.TaskUnschedulableError(
                    f"The task {template.spec.name} cannot be scheduled: its placement group "
                    f"was removed")
            node = self.groups.bundle_node(group, strategy.placement_group_bundle_index)
            if node.node_id in exclude or all(n.node_id != node.node_id for n in nodes):
                raise exceptions.TaskUnschedulableError(
                    f"The task {template.spec.name} cannot be scheduled: its placement group "
                    f"bundle was on node {self._address(node)}, which died")
            return None if node.node_id == self._local_id else node
        if isinstance(strategy, NodeAffinitySchedulingStrategy):
            for n in nodes:
                if n.node_id.hex() == strategy.node_id:
                    return None if n.node_id == self._local_id else n
            if strategy.soft:
                return self._least_loaded(template, nodes, deps)
            raise exceptions.TaskUnschedulableError(
                f"The task {template.spec.name} cannot be scheduled: it has a hard affinity "
                f"to node {strategy.node_id}, which is not alive in the cluster")
        if strategy == "SPREAD" and nodes:
            with self._lock:
                self._spread += 1
                n = nodes[self._spread % len(nodes)]
            return None if n.node_id == self._local_id else n
        return self._least_loaded(template, nodes, deps)

    def _least_loaded(self, template, nodes, deps=()):
        """A call that fits here: see _spill. Else the node that has the
        call's resources with the most of them free; None (here: the task
        pends with the infeasible warning) if no node has them."""
        demand = dict(template.spec.required_resources)
        here_ok = any(n.node_id == self._local_id for n in nodes)
        if here_ok and self._fits_here(template.spec):
            return self.spill.place(demand, nodes, deps)
        fit = [n for n in nodes
               if all(n.resources_total.get(k, 0.0) >= v for k, v in demand.items())]
        if not fit:
            return None
        best = max(fit, key=lambda n: sum(n.resources_available.get(k, 0.0) for k in demand))
        return None if best.node_id == self._local_id else best

    # Submission -------------------------------------------------------------

    def submit(self, template, blob: bytes, deps: List[bytes], keep) -> Optional[Any]:
        """Sends a call to the node it is placed on; its ObjectRefs, or None
        when it runs here after all."""
        group = self.groups.group_of(template.strategy)
        if group is not None and not group.ready.is_set():  # sent once it is reserved
            task = self._new_task(template, blob, deps, keep, None)
            with self._lock:
                if not group.ready.is_set():
                    group.waiting.append(task)
                    return self._refs(task)
            self._send_in_group(task)
            return self._refs(task)
        route = template.route
        if route.__class__ is Spill:  # the common case: straight to the decision
            with self._lock:
                nodes = self._alive_nodes()
            node = self.spill.place(route.demand, nodes, deps)
        else:
            node = self.place(template, deps=deps)
        if node is None:
            return None
        task = self._new_task(template, blob, deps, keep, node)
        self._send(task)
        return self._refs(task)

    def _new_task(self, template, blob: bytes, deps: List[bytes], keep, node,
                  actor=None) -> _RemoteTask:
        """A task for another node, its returns' placeholders made here."""
        core = self._w.core
        task_key = _miniray_core.task_id_of(_miniray_core.new_object_id())
        local_ids = _miniray_core.return_ids(task_key, template.num_returns)
        for i in local_ids:
            core.expect_object(i)
        dep_refs = [ObjectRef(d, core, borrowed=True) for d in deps] + list(keep)
        task = _RemoteTask(template, blob, deps, dep_refs, local_ids, node, actor)
        with self._lock:
            for index, i in enumerate(local_ids):
                self._objects[i] = _RemoteObject(task, index)
            self._hold(deps)
        return task

    def _refs(self, task: _RemoteTask):
        """What .remote() returns for it (as refs_for_returns)."""
        refs = [RemoteObjectRef(i, self._w.core) for i in task.local_ids]
        n = task.template.num_returns
        return refs[0] if n == 1 else (refs if n else None)

    def _address(self, node) -> str:
        return f"{node.node_manager_address}:{node.node_manager_port}"

    def _send(self, task: _RemoteTask) -> None:
        self._queue(self._address(task.node), ("task", task))

    def _queue(self, address: str, item) -> None:
        """Queues a task or a free for a node's sender thread (started on
        first use); nothing once the driver is leaving."""
        with self._lock:
            if self._closed:
                return
            q = self._senders.get(address)
            if q is None:
                q = self._senders[address] = queue.Queue()
                threading.Thread(target=self._sender, args=(address, q), daemon=True,
                                 name=f"miniray-send-{address}").start()
                self._follow(address)
                self._watch()
        q.put(item)

    def _watch(self) -> None:
        """With self._lock held: starts the node watch (once)."""
        if not self._watching and not self._closed:
            self._watching = True
            threading.Thread(target=self._watch_nodes, daemon=True,
                             name="miniray-node-watch").start()

    def _watch_nodes(self) -> None:
        """Every second while work is out on other nodes: a node the cluster
        declared dead (silent past the head's --node-timeout-ms: cut off,
        or hung) is lost, as if its calls had failed; its tasks go
        elsewhere and its actors restart, as after a crash."""
        while not self._closed:
            time.sleep(self.NODES_TTL_S)
            with self._lock:
                if not (self._objects or self.actors or self.groups.any_created()):
                    continue
                self._nodes_at = 0.0
                try:
                    alive = {n.node_id for n in self._alive_nodes()}
                except Exception:  # noqa: BLE001 - no GCS now: next time
                    continue
                tasks = {id(o.task): o.task for o in self._objects.values()
                         if o.task.node is not None and not o.pulled and
                         o.task.node.node_id not in alive}
                actors = [a for a in self.actors.values()
                          if a.dead is None and a.node.node_id not in alive]
            for node_id in self.groups.holds_bundles_on(alive):
                self.groups.node_lost(node_id)
            for task in tasks.values():
                address = self._address(task.node)
                self._node_lost(task, f"node {address} was declared dead by the cluster "
                                      f"(no heartbeat)", address)
            for actor in actors:
                with actor.lock:
                    if actor.dead is None and actor.node.node_id not in alive:
                        self._restart_actor(actor, f"node {self._address(actor.node)} was "
                                                   f"declared dead by the cluster (no heartbeat)")

    def _follow(self, address: str) -> None:
        """With self._lock held: shows what this job's workers on that node
        print, as the driver's own (log_monitor.py), from now on."""
        if self.show_logs and address not in self._followers and not self._closed:
            thread = threading.Thread(target=self._follow_logs, args=(address,), daemon=True,
                                      name=f"miniray-logs-{address}")
            self._followers[address] = thread
            thread.start()

    def _follow_logs(self, address: str) -> None:
        client = self._client(address)
        body = rpc.PeerLogsRequest(job_id=self._job_id, driver_node_id=self._local_id,
                                   wait_s=1.0).serialize()
        while not self._closed:
            try:
                reply = rpc.parse("PeerLogsReply", client.call("GetLogs", body, 10.0))
            except exceptions.RaySystemError:
                return  # the node is gone
            except Exception:  # noqa: BLE001 - a bad answer: try again later
                time.sleep(1.0)
                continue
            self._show(address, reply)

    def _show(self, address: str, reply) -> None:
        from miniray._private.log_monitor import progress_line, show
        if reply.dropped:
            logger.warning("%d lines of output from node %s were lost (the driver did not "
                           "read them in time)", reply.dropped, address)
        run: List[str] = []
        run_err = False
        for line in reply.lines:
            if progress_line(line.text):
                continue
            if run and line.is_err != run_err:
                show(run, run_err)
                run = []
            run_err = line.is_err
            run.append(line.text + "\n")
        if run:
            show(run, run_err)

    def _sender(self, address: str, q: queue.Queue) -> None:
        """Sends the tasks and frees for one node, in order: every item of
        the same kind queued meanwhile goes in the same call (tasks up to
        one whose argument is still on its way to a node)."""
        client = self._client(address)
        after = None  # an item taken while gathering a batch: it goes next
        while True:
            kind, item = after if after is not None else q.get()
            if kind == "stop":
                return
            batch, after = [item], None
            while len(batch) < MAX_BATCH:
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    break
                if nxt[0] != kind or (kind == "task" and self._waits_for_unsent(nxt[1])):
                    after = nxt
                    break
                batch.append(nxt[1])
            if kind == "task":
                self._send_tasks(client, batch)
                continue
            try:
                client.call("FreeObjects", self._free_body(batch), 30.0)
            except Exception:  # noqa: BLE001 - the node is gone, and its objects
                pass

    def _free_body(self, object_ids: List[bytes], job_finished: bool = False) -> bytes:
        return rpc.FreeObjectsRequest(job_id=self._job_id, driver_node_id=self._local_id,
                                      object_ids=object_ids,
                                      job_finished=job_finished).serialize()

    def _waits_for_unsent(self, task: _RemoteTask) -> bool:
        with self._lock:
            for d in task.deps:
                obj = self._objects.get(d)
                if obj is not None and not obj.task.sent.is_set():
                    return True
        return False

    def _request(self, spec, blob: bytes, deps: List[bytes], with_job: bool, exported: set):
        """A PeerTaskRequest: `spec` with this call's arguments (located
        where they are), the job's config if asked, and the function
        unless it is in `exported` (the functions that node has)."""
        remote_args, deps_remote = self._locate(deps)
        req = rpc.PeerTaskRequest(job_id=self._job_id, driver_node_id=self._local_id, spec=spec,
                                  remote_args=remote_args)
        if with_job:
            req.job = self._job_config
        req.spec.args = blob
        req.spec.dependencies = deps_remote
        function_id = bytes(spec.function_id)
        if function_id and function_id not in exported:
            req.exports = [rpc.KvEntry(key="fn:" + function_id.hex(),
                                       value=self.function_blobs[function_id])]
            exported.add(function_id)
        return req

    def _send_tasks(self, client, tasks: List[_RemoteTask]) -> None:
        address = client.address
        sent = self._exported.setdefault(address, set())
        exported = set(sent)
        reqs = []
        for i, task in enumerate(tasks):
            req = self._request(task.template.spec, task.blob, task.deps, i == 0, exported)
            if task.actor is not None:
                req.spec.actor_id = task.actor.remote_id  # its current incarnation
            reqs.append(req)
        # A task sent alone: its node waits a little for its returns and
        # answers with them (a sync call's second round trip saved), unless
        # this function's last such wait was in vain (then not for a while).
        wait = 0.0
        if len(tasks) == 1:
            key = bytes(tasks[0].template.spec.function_id) + tasks[0].template.spec.name.encode()
            with self._lock:
                skip = self._no_inline.get(key, 0)
                if skip:
                    self._no_inline[key] = skip - 1
            wait = 0.0 if skip else INLINE_WAIT_S
        body = rpc.PeerTaskBatch(tasks=reqs, inline_wait_s=wait).serialize()
        try:
            replies = rpc.parse("PeerTaskBatchReply",
                                client.call("SubmitTask", body, CALL_TIMEOUT_S)).replies
        except exceptions.RaySystemError as e:  # unreachable: the node is gone
            for task in tasks:
                self._node_lost(task, f"node {address} could not be reached: {e}", address)
            return
        except Exception as e:  # noqa: BLE001 - refused (token), or a bad request
            for task in tasks:
                self._fail(task, exceptions.RaySystemError(
                    f"node {address} did not take task {task.template.spec.name}: {e}"))
            return
        sent.update(exported)
        if wait and not replies[0].values:  # it took longer: no wait for a while
            with self._lock:
                self._no_inline[key] = INLINE_SKIP
        for task, reply in zip(tasks, replies):
            self._took(task, reply)

    def _took(self, task: _RemoteTask, reply) -> None:
        """The node answered for `task`: it runs there, or it failed."""
        if reply.has("error"):
            self._fail(task, serialization.error_to_exception(reply.error))
            return
        frees: List[tuple] = []
        inline = []  # (object, value): returns that came with the answer
        with self._lock:
            task.remote_ids = list(reply.return_ids)
            if len(reply.values) == len(task.local_ids):
                for i, value in zip(task.local_ids, reply.values):
                    obj = self._objects.get(i)
                    if obj is not None and not (obj.pulling or obj.pulled or obj.released):
                        obj.pulling = True  # fetch leaves it alone
                        inline.append((obj, value))
            wanted = [i for i in task.local_ids
                      if i in self._objects and self._objects[i].wanted]
            for i in task.local_ids:  # dropped before the node took it
                obj = self._objects.get(i)
                if obj is not None:
                    self._settle(obj, frees)
        task.sent.set()
        self._flush(frees)
        for obj, value in inline:
            self._store(obj, value)
        if wanted:
            self.fetch(wanted)

    def _locate(self, deps: List[bytes]):
        """Where each argument is (the node that made it, or this one): the
        rpc.PeerObjectRefs, and the ids they have there."""
        self._alive_nodes()
        for d in deps:  # an argument's own task may still be on its way
            with self._lock:
                obj = self._objects.get(d)
            if obj is not None:
                obj.task.sent.wait()
        remote_args, deps_remote = [], []
        with self._lock:
            here = [d for d in deps if d not in self._objects]
        if here:
            # The node must know this driver's objects (its puts travel on
            # its own connection) before another node asks it for them: a
            # round trip on that connection makes sure.
            self._w.core.wait(here, len(here), 0.0)
        with self._lock:
            for d in deps:
                obj = self._objects.get(d)
                if obj is not None and obj.task.remote_ids is not None:
                    rid = obj.task.remote_ids[obj.index]  # kept there: we hold it
                    address = self._address(obj.task.node)
                else:  # here (put by this driver, made here, or pulled here)
                    rid, address = d, self._local_address
                deps_remote.append(rid)
                remote_args.append(rpc.PeerObjectRef(object_id=rid, node_address=address))
        return remote_args, deps_remote

    # Objects ----------------------------------------------------------------

    def fetch(self, ids) -> None:
        """Starts pulling the remote returns among `ids` into this node."""
        if not self._objects:
            return  # nothing of this driver's lives elsewhere
        start = []
        with self._lock:
            for i in ids:
                obj = self._objects.get(i)
                if obj is None or obj.pulling or obj.pulled:
                    continue
                obj.wanted = True  # needed here: never freed before it is pulled
                if obj.task.remote_ids is None:
                    continue  # pulled once the node took the task
                obj.pulling = True
                start.append(obj)
        groups: Dict[str, List[_RemoteObject]] = {}
        for obj in start:  # one GetObjects call per node and batch
            groups.setdefault(self._address(obj.task.node), []).append(obj)
        for address, objs in groups.items():
            for i in range(0, len(objs), MAX_BATCH):
                threading.Thread(target=self._pull_group, args=(address, objs[i:i + MAX_BATCH]),
                                 daemon=True, name="miniray-pull").start()

    def _pull_group(self, address: str, objs: List[_RemoteObject]) -> None:
        """Gets small objects of one node in one call; a large one is then
        streamed on its own (_pull)."""
        body = rpc.PeerGetRequest(object_ids=[o.task.remote_ids[o.index] for o in objs],
                                  timeout_s=PULL_TIMEOUT_S).serialize()
        try:
            values = rpc.parse("PeerGetReply",
                               self._client(address).call("GetObjects", body, -1.0)).values
        except exceptions.RaySystemError as e:  # the node is gone, and the objects
            tasks = {}
            with self._lock:
                for obj in objs:
                    if self._on(obj.task, address):  # else it was sent elsewhere meanwhile
                        obj.pulling = False
                        tasks[id(obj.task)] = obj.task
            for task in tasks.values():
                self._node_lost(task, f"node {address} holding it died ({e})", address)
            return
        except Exception as e:  # noqa: BLE001 - a bad answer: each is pulled alone
            values = [rpc.PeerObjectValue(large=True) for _ in objs]
            logger.warning("GetObjects from node %s failed: %s", address, e)
        for obj, value in zip(objs, values):
            with self._lock:
                moved = not self._on(obj.task, address) or obj.task.lost_from == address
            if moved:  # the node was declared dead and the task run elsewhere
                continue
            if value.large:
                self._pull(obj)
                continue
            self._store(obj, value)

    def _store(self, obj: _RemoteObject, value) -> None:
        """A small return's value (or error) from its node, stored here."""
        local_id = obj.task.local_ids[obj.index]
        if value.has("error"):
            store_error(self._w.core, local_id, serialization.error_to_exception(value.error))
        else:
            store_bytes(self._w.core, local_id, memoryview(value.data))
        self._pulled(obj)

    def _pull(self, obj: _RemoteObject) -> None:
        task = obj.task
        local_id = task.local_ids[obj.index]
        address = self._address(task.node)
        core = self._w.core
        try:
            pull_into(core, self._client(address), task.remote_ids[obj.index], local_id,
                      PULL_TIMEOUT_S)
        except exceptions.RaySystemError as e:  # the node is gone, and the object
            with self._lock:
                if not self._on(task, address) or task.lost_from == address:
                    return  # run elsewhere meanwhile
                obj.pulling = False
            self._node_lost(task, f"node {address} holding it died ({e})", address)
            return
        except Exception as e:  # noqa: BLE001
            store_error(core, local_id, exceptions.ObjectLostError(
                local_id.hex(), f"Object {local_id.hex()} could not be pulled from node "
                                f"{address}: {e}"))
        self._pulled(obj)

    def _pulled(self, obj: _RemoteObject) -> None:
        """`obj` is here now (a value or an error)."""
        self._w.core.remove_local_ref(obj.task.local_ids[obj.index])  # its ObjectRef holds it
        frees: List[tuple] = []
        with self._lock:  # the copy here serves later uses: the node's can go
            obj.pulling, obj.pulled = False, True
            self._settle(obj, frees)
        self._flush(frees)

    def _on(self, task: _RemoteTask, address: str) -> bool:
        """Whether `task` is (still) on the node at `address`."""
        return task.node is not None and self._address(task.node) == address

    def _node_lost(self, task: _RemoteTask, why: str, address: str) -> None:
        """The task's node (at `address`) is gone: run it again elsewhere
        (lineage reconstruction) while it has retries, else its returns are
        lost. Nothing if the task was sent elsewhere already (a call to the
        node that hung until now)."""
        with self._lock:
            self._nodes_at = 0.0  # read the node table again
            if not self._on(task, address) or task.lost_from == address:
                return  # handled already (by another call that failed, or the watch)
            task.lost_from = address
        if task.actor is not None:
            self._actor_call_lost(task, why)
            return
        if task.retries_left > 0:
            task.retries_left -= 1
            if self.groups.group_of(task.template.strategy) is not None:
                # In a placement group: its bundle goes elsewhere first.
                logger.warning("task %s is submitted again: %s", task.template.spec.name, why)
                self.groups.node_lost(task.node.node_id)
                self._resend(task, None)
                return
            try:
                node = self.place(task.template, exclude={task.node.node_id})
            except exceptions.TaskUnschedulableError as e:
                self._fail(task, e)
                return
            logger.warning("task %s is submitted again: %s", task.template.spec.name, why)
            if node is None:
                self._resubmit_here(task)
            else:
                self._resend(task, node)
            return
        self._fail(task, exceptions.ObjectLostError(
            task.local_ids[0].hex() if task.local_ids else "",
            f"The returns of task {task.template.spec.name} ("
            f"{', '.join(i.hex() for i in task.local_ids)}) were lost: {why}; the task has "
            f"no retries left to make them again (max_retries)"))

    def _resend(self, task: _RemoteTask, node) -> None:
        """Sends a task whose node died to `node` (its returns' pulls start
        again once that node took it, for those still wanted here); None:
        to its placement group's bundle, once it is placed again."""
        with self._lock:
            task.node, task.remote_ids = node, None
            task.sent.clear()
            for i in task.local_ids:
                obj = self._objects.get(i)
                if obj is not None:
                    obj.pulling = False
        if node is None:
            self.groups.wait_or_send(task)
        else:
            self._send(task)

    def _actor_call_lost(self, task: _RemoteTask, why: str) -> None:
        """An actor call whose node died: the actor is made again elsewhere
        (once per death, if it has restarts), and the call sent to it again
        if it has retries (max_task_retries); otherwise ActorDiedError."""
        actor = task.actor
        with actor.lock:
            if actor.dead is None and actor.node is task.node:
                self._restart_actor(actor, why)
            dead = actor.dead
        name = task.template.spec.name
        if dead is not None:
            self._fail(task, exceptions.ActorDiedError(error_msg=(
                f"The actor of {name} died: {dead}")))
        elif task.retries_left > 0:
            task.retries_left -= 1
            self._resend(task, actor.node)
        else:
            self._fail(task, exceptions.ActorDiedError(error_msg=(
                f"The actor of {name} was restarted after {why}; the call is not retried "
                f"(max_task_retries)")))

    def _restart_actor(self, actor: "_RemoteActor", why: str) -> None:
        """With actor.lock held: makes the actor again on another node."""
        dead_node = actor.node.node_id
        if not actor.owned or actor.restarts_left <= 0:
            actor.dead = f"its node {self._address(actor.node)} died ({why})" + (
                "" if not actor.owned else "; it has no restarts left (max_restarts)")
            return
        actor.restarts_left -= 1
        try:
            node = self.place(_Placement(actor.creation, actor.strategy), exclude={dead_node})
            node = node or self._local_node()
            reply = self._create_on(node, actor.creation, actor.blob, actor.deps, False)
        except Exception as e:  # noqa: BLE001 - nowhere to go
            actor.dead = f"its node died ({why}) and it could not be made again: {e}"
            return
        logger.warning("actor %s is restarted on node %s: %s", actor.creation.name,
                       self._address(node), why)
        actor.node, actor.remote_id = node, reply.actor_id

    def _local_node(self):
        with self._lock:
            self._nodes_at = 0.0
            for n in self._alive_nodes():
                if n.node_id == self._local_id:
                    return n
        raise exceptions.RaySystemError("this driver's node is not in the node table")

    # Placement groups across nodes (cluster_groups.py) ----------------------

    def _send_in_group(self, task: _RemoteTask) -> None:
        """Sends a call that waited for its group to be reserved (or fails it)."""
        try:
            node = self.place(task.template)
        except exceptions.TaskUnschedulableError as e:
            self._fail(task, e)
            return
        if node is None:
            self._resubmit_here(task)
        else:
            task.node = node
            self._send(task)


    # Actors -----------------------------------------------------------------

    def create_actor(self, spec, strategy, blob: bytes, deps: List[bytes], keep,
                     get_if_exists: bool):
        """Makes an actor on the node it is placed on: its ActorReply, or
        None when it is to live here."""
        placement = _Placement(spec, strategy)
        if not self.wants(placement):
            return None
        group = self.groups.group_of(strategy)
        if group is not None:  # an actor's creation waits for its group
            group.ready.wait()
            if group.state == "REMOVED":
                raise exceptions.ActorUnschedulableError(
                    f"The actor {spec.name} cannot be scheduled: its placement group was "
                    f"removed")
        node = self.place(placement)
        if node is None:
            return None
        core = self._w.core
        dep_refs = [ObjectRef(d, core, borrowed=True) for d in deps] + list(keep)
        with self._lock:
            self._hold(deps)  # for its life: a restart takes them again
        try:
            reply = self._create_on(node, spec, blob, deps, get_if_exists)
        except BaseException:
            frees: List[tuple] = []
            with self._lock:
                self._unhold(deps, frees)
            self._flush(frees)
            raise
        self.actors[reply.actor_id] = _RemoteActor(node, reply.actor_id, spec, strategy, blob,
                                                   deps, dep_refs)
        return reply

    def _create_on(self, node, spec, blob: bytes, deps: List[bytes], get_if_exists: bool):
        address = self._address(node)
        exported: set = set()  # the class goes with its creation, always
        req = self._request(spec, blob, deps, True, exported)
        req.get_if_exists = get_if_exists
        with self._lock:
            self._follow(address)
            self._watch()
        body = self._client(address).call("CreateActor", req.serialize(), CALL_TIMEOUT_S)
        self._exported.setdefault(address, set()).update(exported)
        return rpc.parse("ActorReply", body)

    def find_actor(self, name: str, namespace: str):
        """A live named actor on another node: its ActorReply, or None."""
        try:
            actors = self._gcs.actors()
        except Exception:  # noqa: BLE001 - no GCS: nothing to find
            return None
        with self._lock:
            self._nodes_at = 0.0
            nodes = {n.node_id: n for n in self._alive_nodes()}
        for a in actors:
            node = nodes.get(a.node_id)
            if a.name != name or a.ray_namespace != namespace or a.state == "DEAD" or \
                    node is None or a.node_id == self._local_id:
                continue
            body = rpc.GetActorRequest(name=name, ray_namespace=namespace).serialize()
            try:
                reply = rpc.parse("ActorReply", self._client(self._address(node)).call(
                    "GetActor", body, 30.0))
            except ValueError:
                continue  # gone meanwhile
            if reply.actor_id not in self.actors:
                self.actors[reply.actor_id] = _RemoteActor(node, reply.actor_id)
            return reply
        return None

    def handle_info(self, actor_id: bytes) -> tuple:
        """What a handle of an actor on another node carries when it is
        passed to a task or an actor: the actor's current id and node."""
        actor = self.actors[actor_id]
        actor.passed = True
        return actor.remote_id, bytes(actor.node.node_id), self._address(actor.node)

    def adopt_actor(self, actor_id: bytes, info: tuple) -> None:
        """A handle passed to this process (handle_info): its calls go to
        the actor's node, as this process's own calls to other nodes do."""
        remote_id, node_id, address = info
        with self._lock:
            if actor_id in self.actors:
                return
            self._nodes_at = 0.0
            node = next((n for n in self._alive_nodes() if n.node_id == node_id), None)
            if node is None:  # a stand-in, for the messages
                ip, _, port = address.rpartition(":")
                node = rpc.GcsNodeInfo(node_id=node_id, node_manager_address=ip,
                                       node_manager_port=int(port))
            actor = _RemoteActor(node, remote_id)
            if node.node_id not in {n.node_id for n in self._nodes}:
                actor.dead = f"its node {address} is not alive"
            self.actors[actor_id] = actor

    def submit_actor_call(self, actor_id: bytes, template, blob: bytes, deps: List[bytes],
                          keep):
        """Sends a call to an actor on another node; its ObjectRefs."""
        actor = self.actors[actor_id]
        task = self._new_task(template, blob, deps, keep, actor.node, actor)
        if actor.dead is not None:
            self._fail(task, exceptions.ActorDiedError(error_msg=(
                f"The actor of {template.spec.name} died: {actor.dead}")))
        else:
            self._send(task)
        return self._refs(task)

    def kill_actor(self, actor_id: bytes, no_restart: bool) -> None:
        actor = self.actors[actor_id]
        if no_restart:
            with actor.lock:
                actor.dead = "it was killed (miniray.kill)"
        body = rpc.KillActorRequest(actor_id=actor.remote_id, no_restart=no_restart).serialize()
        try:
            self._client(self._address(actor.node)).call("KillActor", body, 30.0)
        except exceptions.RaySystemError:
            pass  # its node is gone, and the actor with it

    def actor_released(self, actor_id: bytes) -> None:
        """The driver dropped its handle to an actor it made elsewhere."""
        actor = self.actors.get(actor_id)
        if actor is None or actor.passed:
            return  # a passed handle: the actor lives with the job
        del self.actors[actor_id]
        if actor.owned:
            frees: List[tuple] = []
            with self._lock:
                self._unhold(actor.deps, frees)
            self._flush(frees)
            self._queue_free(self._address(actor.node),
                             _miniray_core.actor_handle_id(actor.remote_id))

    def _resubmit_here(self, task: _RemoteTask) -> None:
        """Runs a lost task on this node; its results fill the placeholders."""
        core = self._w.core
        self.fetch(task.deps)  # its arguments made elsewhere come here first
        ids = core.submit_task(task.template.spec, task.blob, task.deps, [])
        threading.Thread(target=self._copy_local, args=(task, ids), daemon=True).start()

    def _copy_local(self, task: _RemoteTask, ids: List[bytes]) -> None:
        core = self._w.core
        values = core.get(ids, -1.0)
        for local_id, value in zip(task.local_ids, values):
            if isinstance(value, Message):
                store_error(core, local_id, serialization.error_to_exception(value))
            else:
                store_bytes(core, local_id, memoryview(value))
            core.remove_local_ref(local_id)
        for i in ids:
            core.remove_local_ref(i)
        self._forget(task)

    def _fail(self, task: _RemoteTask, exc: BaseException) -> None:
        core = self._w.core
        for i in task.local_ids:
            store_error(core, i, exc)
            core.remove_local_ref(i)
        self._forget(task)
        task.sent.set()

    def _forget(self, task: _RemoteTask) -> None:
        """The task's returns are here (values or errors): it leaves the table."""
        frees: List[tuple] = []
        with self._lock:
            for i in task.local_ids:
                obj = self._objects.get(i)
                if obj is not None and obj.task is task:
                    del self._objects[i]
                    self._return_done(task, frees)
        self._flush(frees)

    # With self._lock held: the lifecycle of the remote returns' copies.

    def _hold(self, deps: List[bytes]) -> None:
        for d in deps:
            obj = self._objects.get(d)
            if obj is not None:
                obj.holders += 1

    def _settle(self, obj: _RemoteObject, frees: List[tuple]) -> None:
        """Frees the node's copy of `obj` once nothing needs it there."""
        if obj.pulling or obj.task.remote_ids is None or obj.holders > 0:
            return
        if not (obj.released or obj.pulled) or (obj.wanted and not obj.pulled):
            return
        local_id = obj.task.local_ids[obj.index]
        if self._objects.get(local_id) is not obj:
            return
        del self._objects[local_id]
        frees.append((self._address(obj.task.node), obj.task.remote_ids[obj.index]))
        self._return_done(obj.task, frees)

    def _return_done(self, task: _RemoteTask, frees: List[tuple]) -> None:
        task.open -= 1
        if task.open == 0:  # no return left to make again: let go of the arguments
            task.dep_refs = []
            self._unhold(task.deps, frees)

    def _unhold(self, deps: List[bytes], frees: List[tuple]) -> None:
        for d in deps:
            obj = self._objects.get(d)
            if obj is not None:
                obj.holders -= 1
                self._settle(obj, frees)

    def _flush(self, frees: List[tuple]) -> None:
        for address, remote_id in frees:
            self._queue_free(address, remote_id)

    def released(self, local_id: bytes) -> None:
        """The driver dropped a remote return: free the node's copy (now, or
        once the pull or the tasks that take it are done)."""
        frees: List[tuple] = []
        with self._lock:
            obj = self._objects.get(local_id)
            if obj is None:
                return
            obj.released = True
            self._settle(obj, frees)
        self._flush(frees)

    def _queue_free(self, address: str, remote_id: bytes) -> None:
        self._queue(address, ("free", remote_id))

    def shutdown(self) -> None:
        """The driver is leaving: each node it used ends its job there."""
        with self._lock:
            self._closed = True
            self.groups.wake()
            senders = list(self._senders.items())
            used = set(self._senders) | set(self._exported) | self.groups.nodes_asked
            self._nodes_at = 0.0
            try:  # a node declared dead may hang (cut off): not waited for
                alive = {self._address(n) for n in self._alive_nodes()}
                used &= alive
            except Exception:  # noqa: BLE001 - no GCS: try them all
                alive = used
        body = self._free_body([], job_finished=True)
        for _, q in senders:
            q.put(("stop", None))
        # What the workers printed last (the node reads their files first);
        # each follower's waiting call returns then, and it ends.
        last = rpc.PeerLogsRequest(job_id=self._job_id, driver_node_id=self._local_id,
                                   wait_s=0.0).serialize()
        for address, thread in list(self._followers.items()):
            if address not in alive:
                continue
            try:
                self._show(address, rpc.parse("PeerLogsReply", self._client(address).call(
                    "GetLogs", last, 5.0)))
            except Exception:  # noqa: BLE001 - gone already
                pass
            thread.join(timeout=2.0)
        for address in used:
            try:
                self._client(address).call("FreeObjects", body, 5.0)
            except Exception:  # noqa: BLE001 - gone already
                pass


def _tell_router(method: str, id_bytes: bytes) -> None:
    """From a __del__: the driver let go of something on another node."""
    router = getattr(global_worker, "router", None)
    if router is not None:
        try:
            getattr(router, method)(id_bytes)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class RemoteActorRef:
    """What keeps an actor made on another node alive: its handle's
    reference, as ObjectRef(actor_handle_id) is for a local one."""

    __slots__ = ("_actor_id", "__weakref__")

    def __init__(self, actor_id: bytes):
        self._actor_id = actor_id

    def __del__(self):
        _tell_router("actor_released", self._actor_id)


class RemoteObjectRef(ObjectRef):
    """An ObjectRef to a return of a task on another node: dropping it also
    frees the node's copy."""

    __slots__ = ()

    def __del__(self):
        _tell_router("released", self._id)
        ObjectRef.__del__(self)


_borrower_lock = threading.Lock()


def borrower_router(w) -> ClusterRouter:
    """The router of a worker that was passed the handle of an actor on
    another node (made on first need): the cluster's address and token
    are in its node's session directory."""
    from miniray._private import cluster
    with _borrower_lock:
        if w.router is None:
            log_dir = os.environ.get("MINIRAY_LOG_DIR", "")
            session = os.path.dirname(log_dir.rstrip("/")) if log_dir else ""
            address = cluster.read(session, "address") if session else None
            token = cluster.read(session, "token") if session else None
            if not address or not token:
                raise TypeError("the handle of an actor on another node was passed to a "
                                "process that is not part of a cluster")
            host, port = cluster.parse_address(address)
            router = ClusterRouter(w, _miniray_core.GcsClient(host, port, token, 3000), token,
                                   borrower=True)
            router.show_logs = False  # the actor's output goes to its creator's driver
            w.router = router
        return w.router
