"""The process-wide state of miniray and the core API (init, get, put, wait).

One `Worker` per process: in the driver it starts the node runtime in
process (C++ threads) and connects to it directly; in a worker process it
connects over the node's Unix socket (see worker_main.py). Either way the
CoreWorker (C++) does the talking; this module turns Python values into
bytes and back and raises the right exceptions.
"""
import atexit
import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import _miniray_core
from _miniray_core import rpc

from miniray._private import serialization
from miniray._private.object_ref import ObjectRef
from miniray._private.ray_option_utils import check_number, check_resources
from miniray._private.worker_state import DRIVER, WORKER, Worker, global_worker  # noqa: F401


def _ensure_connected() -> Worker:
    w = global_worker
    if w.core is None:
        # As Ray: the first API call without init() starts a local runtime.
        init()
    return w


# ---------------------------------------------------------------------------
# init / shutdown

_KNOWN_IGNORED_INIT_OPTIONS = {
    "include_dashboard", "dashboard_host", "dashboard_port",
    "logging_level", "logging_format", "log_to_driver", "configure_logging",
    "job_config", "_system_config", "local_mode", "runtime_env_setup_hook",
    "_node_ip_address", "storage", "labels", "enable_resource_isolation",
}


class RayContext(dict):
    """What init() returns: address information, usable as a context manager
    (`with miniray.init(): ...` shuts down on exit), as Ray's RayContext."""

    def __init__(self, info: Dict[str, Any]):
        super().__init__(info)
        self.address_info = info

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutdown()

    def disconnect(self):
        shutdown()


def _default_object_store_memory() -> int:
    # Ray's default: 30% of the machine's memory. The arena is a sparse
    # memfd, so unused capacity costs nothing.
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 << 30
    return max(64 << 20, int(total * 0.3))


def refs_for_returns(w: "Worker", ids: List[bytes], num_returns: int):
    """What .remote() returns: one ObjectRef, a list of them, or None."""
    refs = [ObjectRef(i, w.core) for i in ids]
    if num_returns == 1:
        return refs[0]
    if num_returns == 0:
        return None
    return refs


def job_worker_env(runtime_env: Dict[str, Any], namespace: str,
                   log_to_driver: bool) -> List[str]:
    """The whole environment of this driver's workers ("KEY=VALUE"): this
    process's, its runtime_env env_vars, and what lets them import what the
    driver can (its sys.path, cwd or working_dir), as Ray's workers."""
    working_dir = runtime_env.get("working_dir")
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in runtime_env.get("env_vars", {}).items()})
    env["MINIRAY_DRIVER_SYS_PATH"] = json.dumps(
        [os.path.abspath(p) if p else os.getcwd() for p in sys.path])
    env["MINIRAY_DRIVER_CWD"] = os.getcwd()
    env["MINIRAY_NAMESPACE"] = namespace
    if working_dir:
        env["MINIRAY_WORKING_DIR"] = os.path.abspath(working_dir)
    # worker_main must import even before the driver's sys.path is set.
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    core_root = os.path.dirname(os.path.abspath(_miniray_core.__file__))
    env["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys([os.path.dirname(pkg_root), core_root] +
                      [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    if not log_to_driver:
        env["MINIRAY_LOG_TO_DRIVER"] = "0"
    return [f"{k}={v}" for k, v in env.items()]


def init(address: Optional[str] = None, *, num_cpus: Optional[int] = None,
         num_gpus: Optional[float] = None, resources: Optional[Dict[str, float]] = None,
         object_store_memory: Optional[int] = None,
         ignore_reinit_error: bool = False, namespace: Optional[str] = None,
         runtime_env: Optional[Dict[str, Any]] = None,
         num_workers: Optional[int] = None, _temp_dir: Optional[str] = None,
         **kwargs) -> RayContext:
    """Starts or connects to miniray (as ray.init).

    With no `address` (or "local"), starts miniray in this process: the
    node runtime (C++ threads) and `num_cpus` worker processes. With
    address="auto" ($MINIRAY_ADDRESS or $RAY_ADDRESS, else this machine's
    newest cluster) or "IP:PORT", attaches to a running cluster (`miniray
    start --head`): this driver's job then runs on that cluster's node on
    this machine. Other arguments as ray.init; `num_workers` is an alias of
    num_cpus (the design's name).
    """
    unknown = set(kwargs) - _KNOWN_IGNORED_INIT_OPTIONS
    if unknown:
        raise TypeError(f"init() got unknown keyword argument(s): {', '.join(sorted(unknown))}")
    if address is None:
        env_address = os.environ.get("MINIRAY_ADDRESS") or os.environ.get("RAY_ADDRESS")
        if env_address:
            address = env_address
    if address is not None and not isinstance(address, str):
        raise TypeError(f"address must be a string such as 'auto' or 'IP:PORT', got {address!r}")
    w = global_worker
    with w.lock:
        if w.connected:
            if ignore_reinit_error:
                return RayContext(_address_info())
            raise RuntimeError("Maybe you called miniray.init twice by accident? "
                               "This error can be suppressed by passing in "
                               "'ignore_reinit_error=True' or by calling "
                               "'miniray.shutdown()' prior to 'miniray.init()'.")
        if num_workers is not None and num_cpus is None:
            num_cpus = num_workers
        check_number("num_cpus", num_cpus, integer=False)
        check_number("num_gpus", num_gpus)
        check_number("object_store_memory", object_store_memory, integer=True, maximum=2 ** 62)
        check_resources(resources)
        if runtime_env is not None and not isinstance(runtime_env, dict):
            raise TypeError("runtime_env must be a dict")
        runtime_env = dict(runtime_env or {})
        namespace = namespace or "default"
        env = job_worker_env(runtime_env, namespace, kwargs.get("log_to_driver") is not False)
        if address not in (None, "local"):
            if num_cpus is not None or num_gpus is not None or resources or object_store_memory:
                raise ValueError("When connecting to an existing cluster, num_cpus, num_gpus, "
                                 "resources and object_store_memory must not be given: the "
                                 "cluster's nodes have theirs (`miniray start --num-cpus ...`)")
            _attach(w, address, _temp_dir, env, namespace)
        else:
            _start_local(w, num_cpus, num_gpus, resources, object_store_memory, env)
        w.mode = DRIVER
        w.namespace = namespace
        w.job_runtime_env = runtime_env
        w.exported_functions = set()
        w.function_cache = {}
        return RayContext(_address_info())


def _start_local(w: Worker, num_cpus, num_gpus, resources, object_store_memory,
                 env: List[str]) -> None:
    """The embedded node: this process is the node, its driver job 1."""
    if num_cpus is None:
        num_cpus = os.cpu_count() or 1
    if num_gpus is None:
        num_gpus = _detect_gpus()
    totals = {"CPU": float(num_cpus), "memory": float(_total_memory() * 0.7)}
    if num_gpus:
        totals["GPU"] = float(num_gpus)
    store_memory = object_store_memory or _default_object_store_memory()
    totals["object_store_memory"] = float(store_memory)
    totals.update({k: float(v) for k, v in (resources or {}).items()})
    node = _miniray_core.NodeRuntime(rpc.NodeConfig(
        resources=totals,
        object_store_memory=store_memory,
        prestart_workers=int(max(1, min(num_cpus, 64))) if num_cpus >= 1 else 1,
        max_workers=max(8, int(num_cpus) * 8),
        worker_argv=[sys.executable, "-m", "miniray._private.worker_main"],
        worker_env=env,
        local_job=True,
    ))
    w.node = node
    w.core = _miniray_core.CoreWorker.connect_local(node)
    w.cluster = None


def _attach(w: Worker, address: str, temp_dir: Optional[str], env: List[str],
            namespace: str) -> None:
    """A driver of a running cluster: its job runs on this machine's node."""
    from miniray._private import cluster
    gcs_address = cluster.resolve_address(address, temp_dir)
    gcs = cluster.connect_gcs(gcs_address, temp_dir)
    node = cluster.local_node(gcs, gcs_address)
    job = rpc.JobConfig(worker_env=env, ray_namespace=namespace,
                        entrypoint=" ".join([sys.executable] + sys.argv))
    try:
        w.core = _miniray_core.CoreWorker.connect_driver(node.socket_name, job)
    except Exception as e:  # noqa: BLE001 - the node went away meanwhile
        raise ConnectionError(f"Could not attach to the miniray node on this machine "
                              f"({node.socket_name}) of the cluster at {gcs_address}: {e}") \
            from None
    w.node = None
    w.cluster = ClusterInfo(gcs, gcs_address, node.session_dir)


class ClusterInfo:
    """What an attached driver knows of its cluster."""

    def __init__(self, gcs, address: str, session_dir: str):
        self.gcs = gcs
        self.address = address
        self.session_dir = session_dir


def _address_info() -> Dict[str, Any]:
    w = global_worker
    cluster_info = getattr(w, "cluster", None)
    if cluster_info is not None:
        return {"node_id": w.core.node_id, "address": cluster_info.address,
                "gcs_address": cluster_info.address, "session_dir": cluster_info.session_dir,
                "namespace": w.namespace, "job_id": w.core.job_id}
    return {"node_id": w.core.node_id, "address": w.node.socket_name if w.node else None,
            "session_dir": None, "namespace": w.namespace, "job_id": w.core.job_id}


def _detect_gpus() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    try:
        return len([d for d in os.listdir("/dev") if d.startswith("nvidia") and d[6:].isdigit()])
    except OSError:
        return 0


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 << 30


def shutdown() -> None:
    """Stops the runtime: workers are killed, sockets closed, shared memory
    released. init() may be called again afterwards."""
    w = global_worker
    with w.lock:
        if w.mode != DRIVER:
            return
        core, node = w.core, w.node
        w.reset()
        if core is not None:
            core.shutdown()  # an attached driver's job ends here
        if node is not None:
            node.stop()


atexit.register(shutdown)


def is_initialized() -> bool:
    """Whether init() has run (or a first API call started a runtime)."""
    return global_worker.connected


# ---------------------------------------------------------------------------
# put / get / wait

def put(value: Any, *, _owner=None) -> ObjectRef:
    """Stores `value` in the object store and returns its ObjectRef."""
    if isinstance(value, ObjectRef):
        raise TypeError("Calling 'put' on an ObjectRef is not allowed. If you really "
                        "want to do this, you can wrap the ObjectRef in a list and "
                        "call 'put' on it.")
    w = _ensure_connected()
    return store_value(w, _miniray_core.new_object_id(), serialization.serialize(value))


def store_value(w: Worker, id_bytes: bytes, sv: serialization.SerializedValue) -> ObjectRef:
    """Puts a serialized value under `id_bytes`: inline when small, else
    written once into shared memory."""
    core = w.core
    if sv.total_size <= serialization.INLINE_LIMIT:
        core.put_inline(id_bytes, sv.to_bytes(), sv.contained)
    else:
        buf = core.create(id_bytes, sv.total_size)
        sv.write_to(memoryview(buf))
        del buf
        core.seal(id_bytes, sv.contained)
    return ObjectRef(id_bytes, core)


def _refs_from(object_refs, what: str) -> List[ObjectRef]:
    if not isinstance(object_refs, (list, tuple)):
        raise TypeError(f"{what} expects an ObjectRef or a list of ObjectRefs, "
                        f"got {type(object_refs).__name__}")
    for r in object_refs:
        if not isinstance(r, ObjectRef):
            raise TypeError(f"{what} expects ObjectRefs, got {r!r} of type {type(r).__name__}")
    return list(object_refs)


def _timeout_arg(timeout) -> float:
    if timeout is None:
        return -1.0
    check_number("timeout", timeout, allow_none=False)
    return float(timeout)


def get(object_refs: Union[ObjectRef, Sequence[ObjectRef]], *,
        timeout: Optional[float] = None) -> Any:
    """The values of `object_refs` (one ref, or a list in the same order),
    waiting for them; raises a task's error, or GetTimeoutError."""
    w = _ensure_connected()
    single = isinstance(object_refs, ObjectRef)
    refs = [object_refs] if single else _refs_from(object_refs, "get")
    values = w.core.get([r._id for r in refs], _timeout_arg(timeout))
    results = [serialization.deserialize_value(v) for v in values]
    return results[0] if single else results


def wait(object_refs: Sequence[ObjectRef], *, num_returns: int = 1,
         timeout: Optional[float] = None, fetch_local: bool = True
         ) -> Tuple[List[ObjectRef], List[ObjectRef]]:
    """(ready, not_ready): the first `num_returns` refs that are ready, in
    input order, and the rest."""
    w = _ensure_connected()
    if isinstance(object_refs, ObjectRef):
        raise TypeError("wait() expects a list of ObjectRefs, got a single ObjectRef")
    refs = _refs_from(object_refs, "wait")
    if len(set(refs)) != len(refs):
        raise ValueError("Wait requires a list of unique object refs.")
    check_number("num_returns", num_returns, allow_none=False, integer=True)
    if num_returns > len(refs):
        raise ValueError(f"num_returns ({num_returns}) cannot exceed the number of "
                         f"object refs ({len(refs)})")
    if num_returns == 0 or not refs:
        return [], refs
    flags = w.core.wait([r._id for r in refs], num_returns, _timeout_arg(timeout))
    ready, not_ready = [], []
    for r, f in zip(refs, flags):
        (ready if f and len(ready) < num_returns else not_ready).append(r)
    return ready, not_ready


def cancel(object_ref: ObjectRef, *, force: bool = False, recursive: bool = True) -> None:
    """Cancels the task that creates `object_ref` (as ray.cancel). A queued
    task never runs; a running one gets a KeyboardInterrupt (force=True kills
    its worker process instead). `get` then raises TaskCancelledError.
    Finished tasks are unaffected; cancelled tasks are not retried. Actor
    calls are cancelled only while still queued. With `recursive`, the tasks
    it submitted (and theirs) are cancelled too."""
    if not isinstance(object_ref, ObjectRef):
        raise TypeError("miniray.cancel() only supports ObjectRefs returned by tasks, "
                        f"got {type(object_ref).__name__}")
    _ensure_connected().core.cancel_task(object_ref._id, bool(force), bool(recursive))


# ---------------------------------------------------------------------------
# Cluster information

def _cluster_nodes(w: Worker):
    """The cluster's nodes (rpc.GcsNodeInfo) of an attached driver, else None."""
    return w.cluster.gcs.nodes() if w.cluster is not None else None


def cluster_resources() -> Dict[str, float]:
    """The cluster's total resources, e.g. {"CPU": 2.0, "memory": ..., ...}."""
    w = _ensure_connected()
    nodes = _cluster_nodes(w)
    if nodes is None:
        return dict(w.core.resources().total)
    return _sum(n.resources_total for n in nodes if n.alive)


def available_resources() -> Dict[str, float]:
    """Resources not held by running tasks and actors (zero ones omitted)."""
    w = _ensure_connected()
    nodes = _cluster_nodes(w)
    if nodes is None:
        reply = w.core.resources()
        total, available = reply.total, reply.available
    else:
        alive = [n for n in nodes if n.alive]
        total = _sum(n.resources_total for n in alive)
        available = _sum(n.resources_available for n in alive)
    return {k: v for k, v in available.items() if v > 0 or k not in total}


def _sum(maps) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for m in maps:
        for k, v in m.items():
            out[k] = out.get(k, 0.0) + v
    return out


def nodes() -> List[Dict[str, Any]]:
    """One entry per node, with Ray's fields (NodeID, Alive,
    NodeManagerAddress, Resources, ...)."""
    w = _ensure_connected()
    infos = _cluster_nodes(w)
    if infos is None:
        return [{
            "NodeID": w.core.node_id, "Alive": True, "alive": True,
            "NodeManagerAddress": "127.0.0.1", "NodeManagerHostname": os.uname().nodename,
            "Resources": cluster_resources(),
        }]
    return [{
        "NodeID": n.node_id.hex(), "Alive": n.alive, "alive": n.alive,
        "NodeManagerAddress": n.node_manager_address,
        "NodeManagerHostname": n.node_manager_hostname,
        "Resources": dict(n.resources_total) if n.alive else {},
        "IsHead": n.is_head,
    } for n in infos]


def get_gpu_ids() -> List[int]:
    """The GPU instances assigned to the running task ([] in the driver)."""
    return list(global_worker.current_gpu_ids)
