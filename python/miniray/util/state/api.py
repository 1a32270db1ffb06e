"""The state API (Ray's ray.util.state): what a running miniray holds.

Each call asks a node for its state (protobuf/node.proto GetStateRequest):
the node of this process when miniray runs here (a driver or a task),
otherwise the newest runtime on this machine, found through its session
directory (a `miniray start` node daemon, or another program's embedded
node), reached as a read-only state client. `address` names a cluster
("auto", or "IP:PORT").

Rows are Ray's: dicts with Ray's field names (task_id, name, state,
node_id, worker_id, start_time_ms, ...), readable as attributes too.
"""
import json
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from _miniray_core import rpc

DEFAULT_LIMIT = 100
DEFAULT_RPC_TIMEOUT = 30  # accepted (Ray's); a node answers at once


class StateSchema(dict):
    """One row: a dict with Ray's field names, readable as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def asdict(self) -> Dict[str, Any]:
        return dict(self)


class TaskState(StateSchema):
    pass


class ActorState(StateSchema):
    pass


class ObjectState(StateSchema):
    pass


class WorkerState(StateSchema):
    pass


class NodeState(StateSchema):
    pass


class JobState(StateSchema):
    pass


class PlacementGroupState(StateSchema):
    pass


# Each resource's columns (filters name these), as Ray's.
COLUMNS: Dict[str, Tuple[str, ...]] = {
    "tasks": ("task_id", "attempt_number", "name", "state", "job_id", "actor_id", "type",
              "func_or_class_name", "parent_task_id", "node_id", "worker_id", "worker_pid",
              "error_type", "error_message", "required_resources", "creation_time_ms",
              "scheduled_time_ms", "start_time_ms", "end_time_ms"),
    "actors": ("actor_id", "class_name", "state", "job_id", "name", "node_id", "pid",
               "ray_namespace", "is_detached", "num_restarts", "death_cause"),
    "objects": ("object_id", "object_size", "task_status", "reference_type", "type", "pid",
                "ip", "node_id", "state", "reference_count"),
    "workers": ("worker_id", "is_alive", "worker_type", "node_id", "ip", "pid", "job_id",
                "actor_id", "current_task_id"),
    "nodes": ("node_id", "node_ip", "is_head_node", "state", "state_message", "node_name",
              "resources_total", "resources_available", "start_time_ms", "end_time_ms"),
    "jobs": ("job_id", "type", "status", "entrypoint", "start_time", "end_time",
             "driver_info", "namespace"),
    "placement_groups": ("placement_group_id", "name", "state", "strategy", "bundles"),
}
_SCHEMAS = {"tasks": TaskState, "actors": ActorState, "objects": ObjectState,
            "workers": WorkerState, "nodes": NodeState, "jobs": JobState,
            "placement_groups": PlacementGroupState}


# ---------------------------------------------------------------------------
# Where the state comes from

class _Source:
    """A node to ask, and the cluster's GCS when there is one."""

    def __init__(self, core, gcs=None, session_dir: Optional[str] = None, owned: bool = False):
        self.core = core
        self.gcs = gcs
        self.session_dir = session_dir
        self._owned = owned

    def close(self) -> None:
        if self._owned:
            self.core.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _source(address: Optional[str] = None, temp_dir: Optional[str] = None) -> _Source:
    import _miniray_core

    from miniray._private import cluster
    from miniray._private.worker_state import global_worker as w
    if address is None and w.core is not None:
        gcs = w.cluster.gcs if w.cluster is not None else None
        log_dir = os.environ.get("MINIRAY_LOG_DIR")  # in a worker: its session's logs
        return _Source(w.core, gcs, w.session_dir or (os.path.dirname(log_dir) if log_dir
                                                      else None))
    gcs_address = None
    if address not in (None, "auto"):
        gcs_address = cluster.resolve_address(address, temp_dir)
    session, info = cluster.find_local_runtime(temp_dir, gcs_address)
    core = _miniray_core.CoreWorker.connect_observer(info["socket_name"])
    gcs = None
    found_address = gcs_address or cluster.read(session, "address")
    if found_address:
        try:
            gcs = cluster.connect_gcs(found_address, temp_dir)
        except ConnectionError:
            gcs = None
    return _Source(core, gcs, session, owned=True)


def _state(src: _Source, tasks=False, workers=False, objects=False, limit=0):
    return src.core.get_state(tasks=tasks, workers=workers, objects=objects, limit=limit)


def _names(enum) -> Dict[int, str]:
    return {number: name for name, number in vars(enum).items()}


_TASK_STATUS = _names(rpc.TaskStatus)
_TASK_TYPE = _names(rpc.TaskType)


def _hex(b: bytes) -> Optional[str]:
    return b.hex() if b else None


def _ms(us: int) -> Optional[int]:
    return us // 1000 if us else None


# ---------------------------------------------------------------------------
# Rows

def _task_rows(state) -> List[Dict[str, Any]]:
    rows = []
    for t in state.tasks:
        rows.append({
            "task_id": t.task_id.hex(), "attempt_number": t.attempt_number, "name": t.name,
            "state": _TASK_STATUS[int(t.state)], "job_id": t.job_id.hex(),
            "actor_id": _hex(t.actor_id), "type": _TASK_TYPE[int(t.type)],
            "func_or_class_name": t.name, "parent_task_id": t.parent_task_id.hex(),
            "node_id": t.node_id.hex(), "worker_id": _hex(t.worker_id),
            "worker_pid": t.worker_pid or None, "error_type": t.error_type or None,
            "error_message": t.error_message or None,
            "required_resources": dict(t.required_resources),
            "creation_time_ms": _ms(t.creation_time_us),
            "scheduled_time_ms": _ms(t.scheduled_time_us), "start_time_ms": _ms(t.start_time_us),
            "end_time_ms": _ms(t.end_time_us),
            # Microseconds, for the timeline and statistics.
            "_creation_us": t.creation_time_us, "_scheduled_us": t.scheduled_time_us,
            "_start_us": t.start_time_us, "_end_us": t.end_time_us,
        })
    return rows


def _actor_rows(state) -> List[Dict[str, Any]]:
    return [{
        "actor_id": a.actor_id.hex(), "class_name": a.class_name, "state": a.state,
        "job_id": a.job_id.hex(), "name": a.name, "node_id": a.node_id.hex(),
        "pid": a.pid or None, "ray_namespace": a.ray_namespace, "is_detached": a.is_detached,
        "num_restarts": a.num_restarts, "death_cause": a.death_cause or None,
    } for a in state.snapshot.actors]


def _worker_rows(state) -> List[Dict[str, Any]]:
    return [{
        "worker_id": wk.worker_id.hex(), "is_alive": True, "worker_type": wk.worker_type,
        "node_id": wk.node_id.hex(), "ip": "127.0.0.1", "pid": wk.pid, "job_id": wk.job_id.hex(),
        "actor_id": _hex(wk.actor_id), "current_task_id": _hex(wk.current_task_id),
    } for wk in state.workers]


def _object_rows(state) -> List[Dict[str, Any]]:
    """One row per reference, as Ray's: who holds each object and how."""
    kinds = {wk.pid: wk.worker_type for wk in state.workers}
    rows = []
    for o in state.objects:
        base = {"object_id": o.object_id.hex(), "object_size": int(o.size),
                "task_status": "PENDING" if o.state == "PENDING" else "FINISHED",
                "ip": "127.0.0.1", "node_id": o.node_id.hex(), "state": o.state,
                "reference_count": int(o.reference_count)}
        held = 0
        for pid, count in zip(o.holder_pids, o.holder_counts):
            held += count
            rows.append(dict(base, reference_type="LOCAL_REFERENCE", pid=pid,
                             type=kinds.get(pid, "WORKER")))
        for pid in o.pinned_by_pids:
            rows.append(dict(base, reference_type="PINNED_IN_MEMORY", pid=pid,
                             type=kinds.get(pid, "WORKER")))
        if o.reference_count > held:
            # Held by a pending task's arguments or by an object containing it.
            rows.append(dict(base, reference_type="USED_BY_PENDING_TASK", pid=None, type=None))
    return rows


def _node_rows(src: _Source, state) -> List[Dict[str, Any]]:
    infos = src.gcs.nodes() if src.gcs is not None else [state.snapshot.node]
    rows = []
    for n in infos:
        alive = n.alive if src.gcs is not None else True
        rows.append({
            "node_id": n.node_id.hex(), "node_ip": n.node_manager_address or "127.0.0.1",
            "is_head_node": n.is_head or src.gcs is None,
            "state": "ALIVE" if alive else "DEAD", "state_message": n.death_reason or None,
            "node_name": n.node_manager_hostname or os.uname().nodename,
            "resources_total": dict(n.resources_total),
            "resources_available": dict(n.resources_available),
            "start_time_ms": n.start_time_ms or None, "end_time_ms": n.end_time_ms or None,
        })
    return rows


def _job_rows(src: _Source, state) -> List[Dict[str, Any]]:
    jobs = src.gcs.jobs() if src.gcs is not None else state.snapshot.jobs
    return [{
        "job_id": j.job_id.hex(), "type": "DRIVER",
        "status": "SUCCEEDED" if j.is_dead else "RUNNING", "entrypoint": j.entrypoint,
        "start_time": j.start_time_ms, "end_time": j.end_time_ms or None,
        "driver_info": {"pid": j.driver_pid, "node_id": j.node_id.hex()},
        "namespace": j.ray_namespace,
    } for j in jobs]


def _rows(resource: str, src: _Source, limit: int) -> List[Dict[str, Any]]:
    if resource == "tasks":
        return _task_rows(_state(src, tasks=True, limit=limit))
    if resource == "objects":
        return _object_rows(_state(src, workers=True, objects=True, limit=limit))
    if resource == "workers":
        return _worker_rows(_state(src, workers=True, limit=limit))
    if resource == "placement_groups":
        from miniray.util.placement_group import _table
        return _table(src.core)
    state = _state(src)
    if resource == "actors":
        return _actor_rows(state)
    if resource == "nodes":
        return _node_rows(src, state)
    return _job_rows(src, state)


# ---------------------------------------------------------------------------
# Filters

_PREDICATES = ("=", "!=")


def _check_filters(resource: str, filters) -> List[Tuple[str, str, Any]]:
    if filters is None:
        return []
    if not isinstance(filters, (list, tuple)):
        raise TypeError(f"filters must be a list of (key, predicate, value) tuples, "
                        f"got {type(filters).__name__}")
    out = []
    for f in filters:
        if not isinstance(f, (list, tuple)) or len(f) != 3:
            raise ValueError(f"a filter is a (key, predicate, value) tuple, got {f!r}")
        key, predicate, value = f
        if key not in COLUMNS[resource]:
            raise ValueError(f"Invalid filter key {key!r} for {resource}: filterable keys are "
                             f"{', '.join(COLUMNS[resource])}")
        if predicate not in _PREDICATES:
            raise ValueError(f"Unsupported filter predicate {predicate!r} (for {key!r}): use "
                             "'=' or '!='")
        if isinstance(value, (dict, list, set)):
            raise ValueError(f"filter value for {key!r} must be a string, number or bool, "
                             f"got {type(value).__name__}")
        out.append((key, predicate, value))
    return out


def _matches(row: Dict[str, Any], filters) -> bool:
    for key, predicate, value in filters:
        # As Ray: values compare as strings, case-insensitively.
        equal = str(row.get(key)).lower() == str(value).lower()
        if equal != (predicate == "="):
            return False
    return True


def _list(resource: str, address: Optional[str], filters, limit: int,
          detail: bool = False) -> List[Any]:
    checked = _check_filters(resource, filters)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    with _source(address) as src:
        # With filters the node's whole table is read, then filtered here.
        rows = _rows(resource, src, 0 if checked else limit)
    rows = [r for r in rows if _matches(r, checked)][-limit:] if resource == "tasks" \
        else [r for r in rows if _matches(r, checked)][:limit]
    schema = _SCHEMAS[resource]
    return [schema({k: v for k, v in r.items() if not k.startswith("_")}) for r in rows]


# ---------------------------------------------------------------------------
# The API

def list_tasks(address: Optional[str] = None, filters: Optional[List[Tuple[str, str, Any]]] = None,
               limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_RPC_TIMEOUT,
               detail: bool = False, raise_on_missing_output: bool = True,
               _explain: bool = False) -> List[TaskState]:
    """Tasks, actor calls and actor creations the node knows (the newest
    `limit`; it keeps the last 100,000), each with its latest attempt's
    state (PENDING_ARGS_AVAIL, PENDING_NODE_ASSIGNMENT, SUBMITTED_TO_WORKER,
    RUNNING, FINISHED, FAILED), worker and times.

    Args:
        address: None (this process's miniray, else the newest on this
            machine), "auto" or "IP:PORT" (a cluster's).
        filters: [(key, "=" or "!=", value)], keys from COLUMNS["tasks"];
            values compare as strings, ignoring case.
        limit: rows at most.

    Raises:
        ValueError: an unknown filter key or predicate, a bad limit.
        ConnectionError: no miniray runs here (or at `address`).
    """
    return _list("tasks", address, filters, limit, detail)


def list_actors(address: Optional[str] = None, filters=None, limit: int = DEFAULT_LIMIT,
                timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
                raise_on_missing_output: bool = True, _explain: bool = False) -> List[ActorState]:
    """Actors (PENDING_CREATION, ALIVE, RESTARTING, DEAD); as list_tasks."""
    return _list("actors", address, filters, limit, detail)


def list_objects(address: Optional[str] = None, filters=None, limit: int = DEFAULT_LIMIT,
                 timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
                 raise_on_missing_output: bool = True, _explain: bool = False
                 ) -> List[ObjectState]:
    """Object references, one row per holder as Ray's: reference_type
    LOCAL_REFERENCE (a process holds an ObjectRef; its pid), PINNED_IN_MEMORY
    (a process maps the value now) or USED_BY_PENDING_TASK (a task's
    argument or a containing object); object_size in bytes; as list_tasks."""
    return _list("objects", address, filters, limit, detail)


def list_workers(address: Optional[str] = None, filters=None, limit: int = DEFAULT_LIMIT,
                 timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
                 raise_on_missing_output: bool = True, _explain: bool = False
                 ) -> List[WorkerState]:
    """Worker processes and drivers connected to the node; as list_tasks."""
    return _list("workers", address, filters, limit, detail)


def list_nodes(address: Optional[str] = None, filters=None, limit: int = DEFAULT_LIMIT,
               timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
               raise_on_missing_output: bool = True, _explain: bool = False) -> List[NodeState]:
    """The cluster's nodes (its GCS table), or the embedded node; as list_tasks."""
    return _list("nodes", address, filters, limit, detail)


def list_jobs(address: Optional[str] = None, filters=None, limit: int = DEFAULT_LIMIT,
              timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
              raise_on_missing_output: bool = True, _explain: bool = False) -> List[JobState]:
    """Jobs (one per driver; RUNNING or SUCCEEDED once it exited); as list_tasks."""
    return _list("jobs", address, filters, limit, detail)


def list_placement_groups(address: Optional[str] = None, filters=None,
                          limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_RPC_TIMEOUT,
                          detail: bool = False, raise_on_missing_output: bool = True,
                          _explain: bool = False) -> List[PlacementGroupState]:
    """Placement groups (PENDING, CREATED, REMOVED); as list_tasks."""
    return _list("placement_groups", address, filters, limit, detail)


def _get(resource: str, key: str, id: str, address: Optional[str]):
    rows = _list(resource, address, [(key, "=", id)], 1)
    return rows[0] if rows else None


def get_task(id: str, address: Optional[str] = None, **_) -> Optional[TaskState]:
    """The task with that id (hex), or None."""
    return _get("tasks", "task_id", id, address)


def get_actor(id: str, address: Optional[str] = None, **_) -> Optional[ActorState]:
    """The actor with that id (hex), or None."""
    return _get("actors", "actor_id", id, address)


def get_worker(id: str, address: Optional[str] = None, **_) -> Optional[WorkerState]:
    """The worker with that id (hex), or None."""
    return _get("workers", "worker_id", id, address)


# ---------------------------------------------------------------------------
# Summaries

def _percentile(sorted_values: List[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def summarize_tasks(address: Optional[str] = None, timeout: int = DEFAULT_RPC_TIMEOUT,
                    raise_on_missing_output: bool = True, _explain: bool = False
                    ) -> Dict[str, Any]:
    """Tasks by function: counts by state, and run time (seconds) mean,
    p50 and p99 of those that ran, as Ray's summary plus the design's
    execution-time statistics."""
    with _source(address) as src:
        rows = _task_rows(_state(src, tasks=True))
    return summarize_task_rows(rows)


def summarize_task_rows(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """summarize_tasks() of rows already read (the dashboard's)."""
    summary: Dict[str, Dict[str, Any]] = {}
    times: Dict[str, List[float]] = {}
    for r in rows:
        s = summary.setdefault(r["name"], {"func_or_class_name": r["name"], "type": r["type"],
                                           "state_counts": {}})
        s["state_counts"][r["state"]] = s["state_counts"].get(r["state"], 0) + 1
        if r["_start_us"] and r["_end_us"]:
            times.setdefault(r["name"], []).append((r["_end_us"] - r["_start_us"]) / 1e6)
    for name, s in summary.items():
        t = sorted(times.get(name, []))
        s["run_time_s"] = {"count": len(t), "mean": sum(t) / len(t) if t else 0.0,
                           "p50": _percentile(t, 0.5), "p99": _percentile(t, 0.99)}
    return {"cluster": {
        "summary": summary, "total_tasks": sum(r["type"] == "NORMAL_TASK" for r in rows),
        "total_actor_tasks": sum(r["type"] == "ACTOR_TASK" for r in rows),
        "total_actor_scheduled": sum(r["type"] == "ACTOR_CREATION_TASK" for r in rows),
        "summary_by": "func_name"}}


def summarize_actors(address: Optional[str] = None, timeout: int = DEFAULT_RPC_TIMEOUT,
                     raise_on_missing_output: bool = True, _explain: bool = False
                     ) -> Dict[str, Any]:
    """Actors by class: counts by state."""
    rows = list_actors(address, limit=10 ** 9)
    summary: Dict[str, Dict[str, Any]] = {}
    for r in rows:
        s = summary.setdefault(r["class_name"], {"class_name": r["class_name"],
                                                 "state_counts": {}})
        s["state_counts"][r["state"]] = s["state_counts"].get(r["state"], 0) + 1
    return {"cluster": {"summary": summary, "total_actors": len(rows), "summary_by": "class"}}


def summarize_objects(address: Optional[str] = None, timeout: int = DEFAULT_RPC_TIMEOUT,
                      raise_on_missing_output: bool = True, _explain: bool = False
                      ) -> Dict[str, Any]:
    """Objects by where their value is (PENDING, INLINE, SHARED_MEMORY,
    SPILLED, ERROR): counts and sizes."""
    with _source(address) as src:
        state = _state(src, objects=True)
    summary: Dict[str, Dict[str, Any]] = {}
    total = 0
    for o in state.objects:
        s = summary.setdefault(o.state, {"total_objects": 0, "total_size_mb": 0.0})
        s["total_objects"] += 1
        s["total_size_mb"] += o.size / 2 ** 20
        total += o.size
    return {"cluster": {"summary": summary, "total_objects": len(state.objects),
                        "total_size_mb": total / 2 ** 20, "summary_by": "state"}}


# ---------------------------------------------------------------------------
# Timeline

def timeline(filename: Optional[str] = None, address: Optional[str] = None
             ) -> Optional[List[Dict[str, Any]]]:
    """Every task and actor call that ran, as Chrome trace events (open
    the file in chrome://tracing or Perfetto): one lane per worker
    process, one box per run, from its worker's start to its end.

    Args:
        filename: write the events there as JSON (and return None).
        address: None (this process's miniray, else the newest on this
            machine), "auto" or "IP:PORT" (a cluster's).

    Returns:
        The events (a list of dicts), unless `filename` was given.
    """
    with _source(address) as src:
        rows = _task_rows(_state(src, tasks=True))
    events = []
    for r in rows:
        if not (r["_start_us"] and r["_end_us"]):
            continue
        kind = {"ACTOR_TASK": "actor_task", "ACTOR_CREATION_TASK": "actor_creation"}.get(
            r["type"], "task")
        events.append({
            "cat": f"{kind}::{r['name']}", "name": r["name"], "ph": "X",
            "pid": f"Node {r['node_id'][:8]}", "tid": f"worker {r['worker_pid']}",
            "ts": r["_start_us"], "dur": max(1, r["_end_us"] - r["_start_us"]),
            "cname": "rail_animation" if r["state"] == "FAILED" else "generic_work",
            "args": {"task_id": r["task_id"], "state": r["state"],
                     "attempt_number": r["attempt_number"], "job_id": r["job_id"],
                     "actor_id": r["actor_id"]},
        })
    events.sort(key=lambda e: e["ts"])
    if filename is None:
        return events
    with open(filename, "w") as f:
        json.dump(events, f)
    return None


# ---------------------------------------------------------------------------
# Logs

def _log_dir(address: Optional[str]) -> str:
    with _source(address) as src:
        if not src.session_dir:
            raise ConnectionError("this miniray runtime has no session directory")
        return os.path.join(src.session_dir, "logs")


def list_logs(address: Optional[str] = None, node_id: Optional[str] = None,
              node_ip: Optional[str] = None, glob_filter: Optional[str] = None,
              timeout: int = DEFAULT_RPC_TIMEOUT) -> Dict[str, List[str]]:
    """The session's log files by kind: worker_out, worker_err, and others."""
    import fnmatch
    names = sorted(os.listdir(_log_dir(address)))
    if glob_filter:
        names = [n for n in names if fnmatch.fnmatch(n, glob_filter)]
    out: Dict[str, List[str]] = {"worker_out": [], "worker_err": [], "others": []}
    for n in names:
        key = "worker_out" if n.startswith("worker-") and n.endswith(".out") else \
            "worker_err" if n.startswith("worker-") and n.endswith(".err") else "others"
        out[key].append(n)
    return out


def _worker_pid_of(address, actor_id, task_id) -> int:
    if actor_id is not None:
        actor = get_actor(actor_id, address)
        if actor is None or not actor["pid"]:
            raise ValueError(f"no live actor with id {actor_id}")
        return actor["pid"]
    task = get_task(task_id, address)
    if task is None or not task["worker_pid"]:
        raise ValueError(f"no task with id {task_id} has run on a worker")
    return task["worker_pid"]


def get_log(address: Optional[str] = None, node_id: Optional[str] = None,
            node_ip: Optional[str] = None, filename: Optional[str] = None,
            actor_id: Optional[str] = None, task_id: Optional[str] = None,
            pid: Optional[int] = None, follow: bool = False, tail: int = 1000,
            timeout: int = DEFAULT_RPC_TIMEOUT, suffix: str = "out",
            encoding: Optional[str] = "utf-8", errors: Optional[str] = "strict",
            _interval: Optional[float] = None, **_) -> Iterator[str]:
    """The lines of a log file (a generator of chunks, as Ray's): by
    `filename` (in the session's logs directory), or the worker file of a
    `pid`, an `actor_id` or a `task_id` (its worker's whole file), `suffix`
    "out" or "err". `tail`: the last lines only (-1: all). `follow`: keep
    yielding new lines as they are written.

    Raises:
        ValueError: nothing names a file, or no such file or process.
    """
    if suffix not in ("out", "err"):
        raise ValueError(f"suffix must be 'out' or 'err', got {suffix!r}")
    log_dir = _log_dir(address)
    if filename is None:
        if pid is None:
            if actor_id is None and task_id is None:
                raise ValueError("get_log needs a filename, pid, actor_id or task_id")
            pid = _worker_pid_of(address, actor_id, task_id)
        from miniray._private.log_monitor import parse_log_name
        matches = [n for n in os.listdir(log_dir)
                   if (p := parse_log_name(n)) and p[2] == int(pid) and n.endswith("." + suffix)]
        if not matches:
            raise ValueError(f"no worker log file of pid {pid} in {log_dir}")
        filename = matches[0]
    path = os.path.join(log_dir, os.path.basename(filename))
    if not os.path.isfile(path):
        raise ValueError(f"no log file {filename!r} in {log_dir}")
    return _read_log(path, tail, follow, encoding or "utf-8", errors or "strict",
                     _interval or 0.1)


def _read_log(path: str, tail: int, follow: bool, encoding: str, errors: str,
              interval: float) -> Iterator[str]:
    import time

    from miniray._private.log_monitor import ACTOR_NAME, TASK_NAME

    def shown(lines):
        return [line for line in lines if not line.startswith((TASK_NAME, ACTOR_NAME))]

    with open(path, "rb") as f:
        lines = shown(f.read().decode(encoding, errors).splitlines(keepends=True))
        if tail is not None and tail >= 0:
            lines = lines[-tail:] if tail else []
        if lines:
            yield "".join(lines)
        while follow:
            chunk = f.read()
            if chunk:
                yield "".join(shown(chunk.decode(encoding, errors).splitlines(keepends=True)))
            else:
                time.sleep(interval)
