"""NodeService's handler in a node daemon (Ray: the raylet's node manager
and object manager services): other nodes' drivers run tasks and actors
here, and any node pulls this node's objects. See node_network.py."""
import collections
import logging
import os
import threading
import time
from typing import Deque, Dict, List, Optional, Tuple

import _miniray_core
from _miniray_core import Message, rpc

from miniray import exceptions
from miniray._private.log_monitor import LogMonitor
from miniray._private.node_network import (
    ACTOR_ID_SIZE, MAX_BATCH, NODE_ID_SIZE, PG_ID_SIZE, PULL_TIMEOUT_S, INLINE_REPLY_BYTES,
    NodeClients, _check_id, _net, pull_into, reserve_group)

logger = logging.getLogger("miniray.node")

# A stand-in task id: a driver sends a task without one (the node that runs
# it gives it its id), and the validator wants one.
_SOME_TASK_ID = _miniray_core.task_id_of(_miniray_core.new_object_id())


def _validate(spec) -> None:
    """Checks a task from the network as the node checks a driver's (the
    node's own validator): a ValueError naming what is wrong, before
    anything is done with it."""
    checked = spec.copy()
    if not checked.task_id:
        checked.task_id = _SOME_TASK_ID
    if spec.type == rpc.TaskType.ACTOR_CREATION_TASK:
        rpc.validate(rpc.ClientMessage(create_actor=rpc.CreateActorRequest(task_spec=checked)))
    else:
        rpc.validate(rpc.ClientMessage(submit_task=checked))


MAX_LOG_LINES = 10000  # kept for a driver that has not asked for them yet
LOG_LINES_PER_REPLY = 2000


def _value_message(value):
    """An object's value as a PeerObjectValue: inline when small, else
    marked large (to be pulled), or the error it holds."""
    if isinstance(value, Message):
        return rpc.PeerObjectValue(error=value)
    if len(memoryview(value)) > INLINE_REPLY_BYTES:
        return rpc.PeerObjectValue(large=True)
    return rpc.PeerObjectValue(data=bytes(memoryview(value)))


class _PeerJob:
    """A remote driver's job on this node: a client of this node in its
    name, and what its workers here print, kept until the driver asks."""

    def __init__(self, core, logs_dir: str, ip: str):
        self.core = core
        self.held: set = set()  # returns its client holds for the driver
        self.args: Dict[bytes, int] = {}  # arguments fetched for tasks being submitted
        self.lock = threading.Lock()
        self.lines: Deque[Tuple[str, bool]] = collections.deque()
        self.dropped = 0
        self.lines_ready = threading.Condition()
        self._logs_dir, self._ip = logs_dir, ip
        # Made when the driver first asks (not with log_to_driver=False):
        # it reads the files from their start, so nothing is missed.
        self.monitor: Optional[LogMonitor] = None

    def _monitor(self) -> LogMonitor:
        with self.lock:
            if self.monitor is None:
                self.monitor = LogMonitor(self._logs_dir, self.core.job_id, ip=self._ip,
                                          sink=self._keep_lines)
            return self.monitor

    def _keep_lines(self, lines: List[str], is_err: bool) -> None:
        with self.lines_ready:
            self.lines.extend((line.rstrip("\n"), is_err) for line in lines)
            while len(self.lines) > MAX_LOG_LINES:  # a driver that does not read
                self.lines.popleft()
                self.dropped += 1
            self.lines_ready.notify_all()

    def take_lines(self, wait_s: float):
        """The lines kept (a PeerLogsReply), waiting up to `wait_s` for some;
        with no wait, the files are read first (a driver's last call)."""
        monitor = self._monitor()
        if wait_s <= 0:
            monitor.poll()
            with self.lines_ready:  # the driver's follower, waiting: it may go
                self.lines_ready.notify_all()
        with self.lines_ready:
            if not self.lines and wait_s > 0:
                self.lines_ready.wait(wait_s)
            n = min(len(self.lines), LOG_LINES_PER_REPLY)
            taken = [self.lines.popleft() for _ in range(n)]
            dropped, self.dropped = self.dropped, 0
        return rpc.PeerLogsReply(lines=[rpc.PeerLogLine(text=t, is_err=e) for t, e in taken],
                                 dropped=dropped)

    def end(self) -> None:
        """The driver is gone: its tasks, objects and workers here too."""
        self.core.shutdown()
        with self.lock:
            monitor, self.monitor = self.monitor, None
        if monitor is not None:
            monitor.stop()
        with self.lines_ready:
            self.lines_ready.notify_all()


class PeerService:
    """NodeService's handler in a node daemon (see the module docstring)."""

    def __init__(self, socket_name: str, ip: str, port: int, token: str, logs_dir: str):
        self._socket = socket_name
        self._logs_dir = logs_dir
        self._ip = ip
        self._lock = threading.Lock()
        self._jobs: Dict[tuple, _PeerJob] = {}
        self._reader = None  # a client of this node that reads objects for pulls
        self._client = NodeClients(token).get  # other nodes' NodeService clients
        self._stopping = False
        self.server = _net().NodeServiceServer(ip, port, token, self)
        self.address = f"{ip}:{self.server.port}"

    # Called by _miniray_net on gRPC's threads ------------------------------

    def call(self, method: str, body: bytes) -> bytes:
        if method == "SubmitTask":
            batch = rpc.parse("PeerTaskBatch", body)
            if not batch.tasks:
                raise ValueError("SubmitTask needs at least one task")
            replies = [self._submit(req) for req in batch.tasks]
            if batch.inline_wait_s > 0 and len(replies) == 1 and replies[0].return_ids:
                self._inline_values(batch.tasks[0], replies[0], min(batch.inline_wait_s, 0.1))
            return rpc.PeerTaskBatchReply(replies=replies).serialize()
        if method == "FreeObjects":
            self._free(rpc.parse("FreeObjectsRequest", body))
            return b""
        if method == "GetObjects":
            return self._get_objects(rpc.parse("PeerGetRequest", body)).serialize()
        if method == "CreateActor":
            return self._create_actor(rpc.parse("PeerTaskRequest", body)).serialize()
        if method == "GetActor":
            req = rpc.parse("GetActorRequest", body)
            try:
                return self._reader_core().get_actor(req.name, req.ray_namespace).serialize()
            except KeyError as e:
                raise ValueError(e.args[0]) from None
        if method == "KillActor":
            req = rpc.parse("KillActorRequest", body)
            _check_id(req.actor_id, "actor_id", size=ACTOR_ID_SIZE)
            self._reader_core().kill_actor(req.actor_id, req.no_restart)
            return b""
        if method == "CreatePlacementGroup":
            return self._create_group(rpc.parse("PeerPlacementGroupRequest", body)).serialize()
        if method == "GetLogs":
            return self._get_logs(rpc.parse("PeerLogsRequest", body)).serialize()
        if method == "RemovePlacementGroup":
            self._remove_group(rpc.parse("PeerPlacementGroupRequest", body))
            return b""
        raise ValueError(f"unknown method {method!r}")

    def pull(self, body: bytes):
        req = rpc.parse("PullObjectRequest", body)
        _check_id(req.object_id, "object_id")
        timeout = PULL_TIMEOUT_S if req.timeout_s < 0 else min(req.timeout_s, PULL_TIMEOUT_S)
        try:
            value = self._core_holding(req.object_id).get([req.object_id], timeout)[0]
        except exceptions.GetTimeoutError:
            error = rpc.ObjectError(type=rpc.ErrorType.OBJECT_LOST, message=(
                f"object {req.object_id.hex()} was not made on node {self.address} within "
                f"{timeout} s"))
            return None, error.serialize()
        if isinstance(value, Message):
            return None, value.serialize()
        return value, b""

    def _get_objects(self, req):
        """Small objects inline, in one answer (a large one: pull it)."""
        ids = list(req.object_ids)
        if not ids or len(ids) > MAX_BATCH:
            raise ValueError(f"GetObjects takes 1 to {MAX_BATCH} object ids, got {len(ids)}")
        for i in ids:
            _check_id(i, "object_id")
        timeout = PULL_TIMEOUT_S if req.timeout_s < 0 else min(req.timeout_s, PULL_TIMEOUT_S)
        values = self._core_holding(ids[0]).get(ids, timeout)
        return rpc.PeerGetReply(values=[_value_message(v) for v in values])

    def refused(self, peer: str, why: str) -> None:
        logger.warning("NodeService call from %s refused: %s", peer, why)

    # -----------------------------------------------------------------------

    def _submit(self, req):
        spec = req.spec
        if spec.type != rpc.TaskType.NORMAL_TASK and spec.type != rpc.TaskType.ACTOR_TASK:
            raise ValueError("only tasks and actor calls are sent between nodes")
        if spec.type == rpc.TaskType.NORMAL_TASK and not spec.function_id:
            raise ValueError("the task names no function")
        if spec.type == rpc.TaskType.ACTOR_TASK:
            _check_id(spec.actor_id, "an actor call's actor_id", size=ACTOR_ID_SIZE)
        _validate(spec)
        job = self._job(req)
        error = self._prepare(job, req)
        if error is not None:
            return rpc.PeerTaskReply(error=error)
        try:
            ids = job.core.submit_task(spec, spec.args, list(spec.dependencies), [])
        finally:  # the task holds its arguments now (or failed)
            self._release(job, [r.object_id for r in req.remote_args])
        with job.lock:
            job.held.update(ids)
        return rpc.PeerTaskReply(return_ids=ids)

    def _inline_values(self, req, reply, wait_s: float) -> None:
        """A short task's returns in its SubmitTask answer, if all are made
        within `wait_s` and small: the driver needs no second round trip."""
        job = self._job(req)
        try:
            values = job.core.get(list(reply.return_ids), wait_s)
        except exceptions.GetTimeoutError:
            return
        out = [_value_message(v) for v in values]
        if not any(v.large for v in out):  # else pulled as usual
            reply.values = out

    def _create_actor(self, req):
        spec = req.spec
        if not spec.has("actor_creation_task_spec") or not spec.function_id:
            raise ValueError("CreateActor takes an actor's creation task")
        _validate(spec)
        job = self._job(req)
        error = self._prepare(job, req)
        if error is not None:
            raise RuntimeError(error.message)
        try:
            reply = job.core.create_actor(spec, req.get_if_exists)
        finally:
            self._release(job, [r.object_id for r in req.remote_args])
        with job.lock:  # the driver's handle: freed when it drops it
            job.held.add(_miniray_core.actor_handle_id(reply.actor_id))
        return reply

    def _create_group(self, req):
        """Reserves this node's part of a group that spans nodes, for the
        driver's job; waits up to req.wait_s for it: the part's row (its
        state says whether it is reserved; a pending part is the driver's
        to remove, or to leave pending)."""
        group = req.group
        if not group.bundle_indices:
            raise ValueError("CreatePlacementGroup takes a part of a group: its bundle_indices")
        rpc.validate(rpc.ClientMessage(create_placement_group=group))
        return reserve_group(self._job(req).core, group, req.wait_s)

    def _get_logs(self, req):
        """A driver's job's lines here (none if it has no job here, after
        waiting as asked, so that a driver's follower does not spin)."""
        wait_s = min(max(req.wait_s, 0.0), 5.0)
        job = self._existing_job(req)
        if job is None:
            time.sleep(wait_s)
            return rpc.PeerLogsReply()
        return job.take_lines(wait_s)

    def _remove_group(self, req) -> None:
        _check_id(req.group.placement_group_id, "placement_group_id", size=PG_ID_SIZE)
        job = self._existing_job(req)
        if job is not None:  # else the job ended here, and its groups with it
            job.core.remove_placement_group(req.group.placement_group_id)

    def _prepare(self, job: _PeerJob, req):
        """Exports the request's functions and fetches its arguments; an
        ObjectError if an argument cannot be had (nothing is held then)."""
        for kv in req.exports:
            if not kv.key.startswith("fn:"):
                raise ValueError(f"an export must be a function (fn:...), got {kv.key!r}")
        for ref in req.remote_args:
            _check_id(ref.object_id, "an argument's object_id")
        for kv in req.exports:
            job.core.kv_put(kv.key, kv.value, False)
        fetched = []
        for ref in req.remote_args:
            try:
                self._fetch(job, ref)
            except Exception as e:  # noqa: BLE001 - the argument's node is gone
                self._release(job, fetched)
                return rpc.ObjectError(
                    type=rpc.ErrorType.OBJECT_LOST,
                    message=f"argument {ref.object_id.hex()} of {req.spec.name} could not be "
                            f"fetched from node {ref.node_address}: {e}")
            fetched.append(ref.object_id)
        return None

    def _fetch(self, job: _PeerJob, ref) -> None:
        """Makes an argument present here, held by the job's client until
        _release: a task submitted meanwhile holds it on its own."""
        object_id = ref.object_id
        with job.lock:  # one pull per object; the job's other tasks wait for it
            if job.args.get(object_id, 0) == 0 and object_id not in job.held:
                if ref.node_address != self.address:
                    pull_into(job.core, self._client(ref.node_address), object_id, object_id,
                              PULL_TIMEOUT_S)
                else:  # made here (by another job's task, or put by a driver here)
                    job.core.add_borrowed_ref(object_id)
            elif object_id in job.held:
                return
            job.args[object_id] = job.args.get(object_id, 0) + 1

    def _release(self, job: _PeerJob, object_ids) -> None:
        with job.lock:
            for object_id in object_ids:
                if object_id in job.held:
                    continue
                job.args[object_id] -= 1
                if job.args[object_id] == 0:
                    del job.args[object_id]
                    job.core.remove_local_ref(object_id)

    def _existing_job(self, req, end: bool = False) -> Optional[_PeerJob]:
        """The job here of the request's driver, if it has one (taken out of
        the table when `end`)."""
        key = (bytes(req.driver_node_id), bytes(req.job_id))
        with self._lock:
            return self._jobs.pop(key, None) if end else self._jobs.get(key)

    def _free(self, req) -> None:
        job = self._existing_job(req, end=req.job_finished)
        if job is None:
            return
        if req.job_finished:
            job.end()  # the node ends the job: its objects, tasks, workers
            return
        with job.lock:
            for object_id in req.object_ids:
                if object_id in job.held:
                    job.held.discard(object_id)
                    job.core.remove_local_ref(object_id)

    def _job(self, req) -> _PeerJob:
        if not req.job_id or len(req.job_id) > 64:
            raise ValueError("a request must name its driver's job (job_id)")
        _check_id(req.driver_node_id, "driver_node_id", size=NODE_ID_SIZE)
        key = (bytes(req.driver_node_id), bytes(req.job_id))
        stale = None
        with self._lock:
            if self._stopping:
                raise exceptions.RaySystemError("this node is stopping")
            job = self._jobs.get(key)
            if job is not None and not job.core.connected:  # its node connection broke
                stale, job = job, None
            if job is None:
                env = [e for e in req.job.worker_env if not e.startswith("MINIRAY_LOG_DIR=")]
                env.append(f"MINIRAY_LOG_DIR={self._logs_dir}")
                config = rpc.JobConfig(worker_env=env, ray_namespace=req.job.ray_namespace,
                                       entrypoint=req.job.entrypoint)
                job = self._jobs[key] = _PeerJob(
                    _miniray_core.CoreWorker.connect_driver(self._socket, config),
                    self._logs_dir, self._ip)
        if stale is not None:
            stale.end()
        return job

    def _core_holding(self, object_id: bytes):
        """The client to read an object through: the remote job's that made
        it here, if any (its submit went through that connection, so the
        node knows the object by the time the read arrives after it),
        else the daemon's own reader."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            if object_id in job.held:
                return job.core
        return self._reader_core()

    def _reader_core(self):
        with self._lock:
            if self._stopping:
                raise exceptions.RaySystemError("this node is stopping")
            if self._reader is None or not self._reader.connected:
                # Its job runs no tasks, but a node may start a worker for
                # any job: the daemon's environment lets one start.
                env = [f"{k}={v}" for k, v in os.environ.items() if k != "MINIRAY_LOG_DIR"]
                env.append(f"MINIRAY_LOG_DIR={self._logs_dir}")
                self._reader = _miniray_core.CoreWorker.connect_driver(
                    self._socket, rpc.JobConfig(worker_env=env,
                                                entrypoint="node daemon (object pulls)"))
            return self._reader

    def has_jobs(self) -> bool:
        with self._lock:
            return bool(self._jobs)

    def end_jobs_of_dead_drivers(self, jobs) -> None:
        """Ends the jobs here whose driver the GCS lists as gone (a driver
        killed before it could say so)."""
        dead = {(bytes(j.node_id), bytes(j.job_id)) for j in jobs if j.is_dead}
        with self._lock:
            gone = [self._jobs.pop(k) for k in list(self._jobs) if k in dead]
        for job in gone:
            job.end()

    def stop(self) -> None:
        # The clients first: a call waiting in one of them for an object
        # (a pull) then returns, and the server can finish its calls.
        with self._lock:
            self._stopping = True
            jobs, self._jobs = list(self._jobs.values()), {}
            reader, self._reader = self._reader, None
        for job in jobs:
            job.end()
        if reader is not None:
            reader.shutdown()
        self.server.stop(1.0)
