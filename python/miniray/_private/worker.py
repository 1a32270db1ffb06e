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
from typing import Any, Dict, List, Optional, Sequence, Tuple, TypeVar, Union, overload

import _miniray_core
from _miniray_core import rpc

from miniray._private import runtime_env as runtime_env_mod
from miniray._private import serialization
from miniray._private.object_ref import ObjectRef
from miniray._private.ray_option_utils import check_number, check_resources
from miniray._private.worker_state import DRIVER, WORKER, Worker, global_worker  # noqa: F401

R = TypeVar("R")


def _ensure_connected() -> Worker:
    w = global_worker
    if w.core is None:
        # As Ray: the first API call without init() starts a local runtime.
        init()
    return w


# ---------------------------------------------------------------------------
# init / shutdown

# Ray's init options: acted on (documented in init()), or accepted and
# without effect.
_KNOWN_IGNORED_INIT_OPTIONS = {
    "include_dashboard", "dashboard_host", "dashboard_port",
    "logging_level", "logging_format", "log_to_driver", "configure_logging",
    "job_config", "_system_config", "local_mode", "runtime_env_setup_hook",
    "_node_ip_address", "storage", "labels", "enable_resource_isolation",
}


def _check_init_options(kwargs: Dict[str, Any]) -> None:
    """Ray's init options that miniray acts on, or refuses, itself."""
    if kwargs.get("local_mode"):
        raise ValueError("init(local_mode=True) is not supported by miniray (Ray deprecated "
                         "it too): tasks always run in worker processes; start with "
                         "num_cpus=1 to run them one at a time")
    level = kwargs.get("logging_level")
    if level is not None:
        import logging
        logger = logging.getLogger("miniray")
        logger.setLevel(level)  # ValueError/TypeError for a bad level
        if kwargs.get("logging_format"):
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter(kwargs["logging_format"]))
            logger.handlers[:] = [handler]


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


def job_worker_env(runtime_env: Dict[str, Any], namespace: str) -> List[str]:
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
    # For the tasks its tasks submit (which inherit the job's environment).
    env["MINIRAY_JOB_RUNTIME_ENV"] = runtime_env_mod.to_json(runtime_env)
    # worker_main must import even before the driver's sys.path is set.
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    core_root = os.path.dirname(os.path.abspath(_miniray_core.__file__))
    env["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys([os.path.dirname(pkg_root), core_root] +
                      [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return [f"{k}={v}" for k, v in env.items()]


def init(address: Optional[str] = None, *, num_cpus: Optional[int] = None,
         num_gpus: Optional[float] = None, resources: Optional[Dict[str, float]] = None,
         object_store_memory: Optional[int] = None,
         ignore_reinit_error: bool = False, namespace: Optional[str] = None,
         runtime_env: Optional[Dict[str, Any]] = None,
         num_workers: Optional[int] = None, _temp_dir: Optional[str] = None,
         **kwargs) -> RayContext:
    """Starts miniray in this process, or connects to a cluster (as ray.init).

    The first API call without init() calls it with no arguments.

    Args:
        address: None or "local" (default; $MINIRAY_ADDRESS or $RAY_ADDRESS
            when set) starts miniray here: the node runtime as C++ threads
            of this process, and worker processes as tasks need them.
            "auto" (this machine's newest cluster) or "IP:PORT" (a head's
            address) attaches to a cluster started with `miniray start
            --head`: this program becomes one job on it, sharing its
            workers, named and detached actors.
        num_cpus: CPUs the local node offers (default: the machine's).
        num_gpus: GPUs it offers (default: those nvidia-smi lists).
        resources: custom resources it offers, e.g. {"disk": 2}.
        object_store_memory: bytes of shared memory for objects (default:
            30% of the machine's memory, as Ray); objects that do not fit
            spill to disk.
        ignore_reinit_error: return quietly if miniray is already running.
        namespace: the namespace of this job's named actors (default
            "default").
        runtime_env: the environment of every task and actor of this job:
            {"env_vars": {"NAME": "value"}, "working_dir": "path",
            "py_modules": [paths or modules], "pip": [requirements]}; a
            task's or actor's own runtime_env is merged over it (see
            miniray._private.runtime_env).
        num_workers: another name for num_cpus (the design document's).
        _temp_dir: where to look for clusters (default /tmp/miniray).
        **kwargs: Ray's other init options. log_to_driver=False stops the
            "(name pid=N)" printing of workers' output (their log files in
            the session directory still have it); logging_level and
            logging_format configure the "miniray" logger;
            include_dashboard=True serves the dashboard (a web page, a JSON
            API and Prometheus /metrics) on dashboard_host (default
            127.0.0.1) and dashboard_port (default 8265; 0 picks a free
            one), its URL with the token in the context's dashboard_url;
            local_mode=True is refused (not supported). These are accepted
            and have no effect: configure_logging, job_config, _system_config,
            runtime_env_setup_hook, _node_ip_address, storage, labels,
            enable_resource_isolation.

    Returns:
        A RayContext (a dict with the address information; as a context
        manager it calls shutdown() on exit).

    Raises:
        RuntimeError: init() already ran (without ignore_reinit_error), or
            no cluster answers at `address`, or its token is wrong.
        TypeError: an unknown keyword argument or a value of the wrong type.
        ValueError: a value out of range, or resources given together with
            the address of a cluster (its nodes have their own).
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
        runtime_env = runtime_env_mod.validate(runtime_env, "init(runtime_env)", job_level=True)
        hook_env = runtime_env_mod.setup_hook_env(runtime_env)  # (removed from runtime_env)
        _check_init_options(kwargs)
        namespace = namespace or "default"
        env = job_worker_env(runtime_env, namespace)
        env += [f"{k}={v}" for k, v in hook_env.items()]
        log_to_driver = kwargs.get("log_to_driver", True)
        if not isinstance(log_to_driver, bool):
            raise TypeError(f"log_to_driver must be a bool, got {log_to_driver!r}")
        dashboard = _dashboard_options(kwargs)
        if address not in (None, "local"):
            if num_cpus is not None or num_gpus is not None or resources or object_store_memory:
                raise ValueError("When connecting to an existing cluster, num_cpus, num_gpus, "
                                 "resources and object_store_memory must not be given: the "
                                 "cluster's nodes have theirs (`miniray start --num-cpus ...`)")
            _attach(w, address, _temp_dir, env, namespace)
        else:
            _start_local(w, num_cpus, num_gpus, resources, object_store_memory, env, _temp_dir,
                         namespace)
        from miniray._private.log_monitor import LogMonitor, setup_logger
        setup_logger()
        # log_to_driver=False: workers' output stays in their log files.
        w.log_monitor = LogMonitor(
            os.path.join(w.session_dir, "logs"), w.core.job_id,
            follow_workers=log_to_driver,
            take_node_logs=_miniray_core.NodeRuntime.take_logs if w.node else None)
        if w.router is not None:  # and other nodes' workers of this job
            w.router.show_logs = log_to_driver
        if dashboard is not None:
            from miniray.dashboard import server
            try:
                w.dashboard = server.start_for_driver(w, *dashboard)
            except ConnectionError:
                shutdown_locked(w)
                raise
        w.mode = DRIVER
        w.namespace = namespace
        w.job_runtime_env = runtime_env
        w.exported_functions = set()
        w.function_cache = {}
        return RayContext(_address_info())


def _dashboard_options(kwargs: Dict[str, Any]) -> Optional[Tuple[str, int]]:
    """(host, port) of the dashboard init() serves, or None."""
    include = kwargs.get("include_dashboard")
    if include is not None and not isinstance(include, bool):
        raise TypeError(f"include_dashboard must be a bool or None, got {include!r}")
    host = kwargs.get("dashboard_host") or "127.0.0.1"
    port = kwargs.get("dashboard_port")
    port = 8265 if port is None else port
    if not isinstance(host, str):
        raise TypeError(f"dashboard_host must be a string, got {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"dashboard_port must be a port number (0 to 65535), got {port!r}")
    return (host, port) if include else None


def _start_local(w: Worker, num_cpus, num_gpus, resources, object_store_memory,
                 env: List[str], temp_dir: Optional[str], namespace: str) -> None:
    """The embedded node: this process is the node, its driver job 1. Its
    session directory holds the workers' logs and says where the node is
    (for the CLI and the state API of other processes)."""
    from miniray._private import cluster
    session = cluster.new_session(temp_dir, embedded=True)
    env = env + [f"MINIRAY_LOG_DIR={os.path.join(session, 'logs')}"]
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
        spill_dir=session,
        local_job=True,
        local_job_config=rpc.JobConfig(ray_namespace=namespace,
                                       entrypoint=" ".join([sys.executable] + sys.argv)),
    ))
    _miniray_core.NodeRuntime.queue_logs(True)  # its warnings go to `logging`
    w.node = node
    w.core = _miniray_core.CoreWorker.connect_local(node)
    w.cluster = None
    w.session_dir = session
    cluster.write_node_file(session, "local", {
        "pid": os.getpid(), "node_id": w.core.node_id, "socket_name": node.socket_name,
        "embedded": True,
    })


def _attach(w: Worker, address: str, temp_dir: Optional[str], env: List[str],
            namespace: str) -> None:
    """A driver of a running cluster: its job runs on this machine's node."""
    from miniray._private import cluster
    gcs_address = cluster.resolve_address(address, temp_dir)
    gcs = cluster.connect_gcs(gcs_address, temp_dir)
    node = cluster.local_node(gcs, gcs_address)
    env = env + [f"MINIRAY_LOG_DIR={os.path.join(node.session_dir, 'logs')}"]
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
    w.session_dir = node.session_dir
    w.job_config = job
    from miniray._private.cluster_router import ClusterRouter
    w.router = ClusterRouter(w, cluster.connect_gcs(gcs_address, temp_dir),
                             cluster.token_for(gcs_address, temp_dir))


class ClusterInfo:
    """What an attached driver knows of its cluster."""

    def __init__(self, gcs, address: str, session_dir: str):
        self.gcs = gcs
        self.address = address
        self.session_dir = session_dir


def _address_info() -> Dict[str, Any]:
    w = global_worker
    cluster_info = getattr(w, "cluster", None)
    dashboard_url = w.dashboard.url if w.dashboard is not None else None
    if cluster_info is not None:
        return {"node_id": w.core.node_id, "address": cluster_info.address,
                "gcs_address": cluster_info.address, "session_dir": cluster_info.session_dir,
                "namespace": w.namespace, "job_id": w.core.job_id,
                "dashboard_url": dashboard_url}
    return {"node_id": w.core.node_id, "address": w.node.socket_name if w.node else None,
            "session_dir": w.session_dir, "namespace": w.namespace, "job_id": w.core.job_id,
            "dashboard_url": dashboard_url}


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
    """Stops miniray in this process (called at exit too).

    A local runtime stops its workers and frees its sockets and shared
    memory; an attached driver ends its job (its objects, tasks and
    non-detached actors go; the cluster stays). init() may run again after.
    """
    w = global_worker
    with w.lock:
        shutdown_locked(w)


def shutdown_locked(w: Worker) -> None:
    """shutdown() with w.lock held (it also undoes a half-done init)."""
    if w.mode == WORKER:
        return
    core, node, monitor, session = w.core, w.node, w.log_monitor, w.session_dir
    dashboard, router = w.dashboard, w.router
    w.reset()
    if router is not None:
        router.shutdown()  # the other nodes end this job's part there
    if dashboard is not None:
        dashboard.stop()
    if monitor is not None:
        monitor.stop()  # shows what the workers wrote until now
    if core is not None:
        core.shutdown()  # an attached driver's job ends here
    if node is not None:
        node.stop()
        _miniray_core.NodeRuntime.queue_logs(False)
        try:  # the runtime is gone; its logs stay
            os.remove(os.path.join(session, "node_local.json"))
        except OSError:
            pass


atexit.register(shutdown)


def is_initialized() -> bool:
    """Whether miniray is running in this process: init() ran, or a first
    API call started it, and shutdown() has not run since."""
    return global_worker.connected


# ---------------------------------------------------------------------------
# put / get / wait

def put(value: R, *, _owner: Any = None) -> ObjectRef[R]:
    """Stores a value in the object store, once, for tasks and get() to use.

    Large numpy arrays and bytes-like values are written to shared memory
    once and read without copies (get() returns a read-only view).

    Args:
        value: any picklable value (cloudpickle), but not an ObjectRef.
        _owner: accepted for Ray compatibility; this process owns it.

    Returns:
        The value's ObjectRef; the value lives while a reference to it does.

    Raises:
        TypeError: `value` is an ObjectRef, or cannot be serialized.
        ObjectStoreFullError: it does not fit, even after spilling to disk.
    """
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


def _refs_from(object_refs, what: str, also: type = ObjectRef) -> List[Any]:
    """The ObjectRefs (or `also`, e.g. generators for wait) of a list."""
    if not isinstance(object_refs, (list, tuple)):
        # Ray raises ValueError for get(3), TypeError for wait(3).
        error = ValueError if what == "get" else TypeError
        raise error(f"'object_refs' must either be an ObjectRef or a list of "
                    f"ObjectRefs; {what}() got {type(object_refs).__name__}")
    for r in object_refs:
        if not isinstance(r, (ObjectRef, also)):
            raise TypeError(f"{what} expects ObjectRefs, got {r!r} of type {type(r).__name__}")
    return list(object_refs)


def _timeout_arg(timeout) -> float:
    if timeout is None:
        return -1.0
    check_number("timeout", timeout, allow_none=False)
    return float(timeout)


@overload
def get(object_refs: ObjectRef[R], *, timeout: Optional[float] = None) -> R: ...


@overload
def get(object_refs: Sequence[ObjectRef[R]], *, timeout: Optional[float] = None) -> List[R]: ...


def get(object_refs: Union[ObjectRef[Any], Sequence[ObjectRef[Any]]], *,
        timeout: Optional[float] = None) -> Any:
    """Waits for objects and returns their values.

    Args:
        object_refs: one ObjectRef, or a list of them.
        timeout: seconds to wait at most (default: for ever).

    Returns:
        The value, or a list of the values in the order of `object_refs`.

    Raises:
        RayTaskError: the task that makes an object raised; the error is
            also an instance of the task's exception class.
        GetTimeoutError: not all were ready within `timeout`.
        TaskCancelledError, WorkerCrashedError, ActorDiedError,
            ObjectLostError: the object will never exist, and why.
        ValueError: `object_refs` is not an ObjectRef or a list.
        TypeError: the list holds something other than ObjectRefs.
    """
    w = _ensure_connected()
    single = isinstance(object_refs, ObjectRef)
    refs = [object_refs] if single else _refs_from(object_refs, "get")
    ids = [r._id for r in refs]
    router = w.router
    if router is not None:
        router.fetch(ids)  # objects made on other nodes come here first
    values = w.core.get(ids, _timeout_arg(timeout))
    if router is not None and router.spill.here_inflight:
        router.spill.got(ids)  # the calls that made them are done
    results = [serialization.deserialize_value(v) for v in values]
    return results[0] if single else results


def wait(object_refs: Sequence[ObjectRef[R]], *, num_returns: int = 1,
         timeout: Optional[float] = None, fetch_local: bool = True
         ) -> Tuple[List[ObjectRef[R]], List[ObjectRef[R]]]:
    """Waits until `num_returns` of the objects are ready (or `timeout`).

    Args:
        object_refs: a list of distinct ObjectRefs ([] returns ([], [])).
        num_returns: how many to wait for (at most len(object_refs)).
        timeout: seconds to wait at most (default: for ever); then fewer
            than num_returns may be ready.
        fetch_local: accepted for Ray compatibility: objects made on
            other nodes are always pulled here (ready means ready on this
            node, Ray's default).

    Returns:
        (ready, not_ready): at most num_returns ready refs, in input order,
        and the others.

    Raises:
        TypeError: not a list of ObjectRefs.
        ValueError: duplicates, or num_returns out of range.
    """
    w = _ensure_connected()
    if isinstance(object_refs, ObjectRef):
        raise TypeError("wait() expects a list of ObjectRefs, got a single ObjectRef")
    from miniray._private.generator import ObjectRefGenerator, wait_for_generators
    refs = _refs_from(object_refs, "wait", also=ObjectRefGenerator)
    if len(set(refs)) != len(refs):
        raise ValueError("Wait requires a list of unique object refs.")
    check_number("num_returns", num_returns, allow_none=False, integer=True)
    if not refs:
        return [], []  # as Ray: nothing to wait for
    if num_returns > len(refs):
        raise ValueError(f"num_returns ({num_returns}) cannot exceed the number of "
                         f"object refs ({len(refs)})")
    if num_returns == 0:
        return [], refs
    wait_timeout = _timeout_arg(timeout)
    if any(isinstance(r, ObjectRefGenerator) for r in refs):
        # A generator is ready when its next item (or its end) is there.
        return wait_for_generators(refs, num_returns, None if timeout is None else wait_timeout)
    ids = [r._id for r in refs]
    if w.router is not None:
        w.router.fetch(ids)  # as Ray's fetch_local: ready means here
    flags = w.core.wait(ids, num_returns, wait_timeout)
    ready, not_ready = [], []
    for r, f in zip(refs, flags):
        (ready if f and len(ready) < num_returns else not_ready).append(r)
    return ready, not_ready


def cancel(object_ref: ObjectRef[Any], *, force: bool = False, recursive: bool = True) -> None:
    """Cancels the task that makes an object (as ray.cancel).

    A queued task never runs; a running one gets a KeyboardInterrupt in its
    thread. get() then raises TaskCancelledError. Finished tasks are not
    affected, and cancelled tasks are not retried. Actor calls are cancelled
    only while still queued.

    Args:
        object_ref: an ObjectRef a task returned.
        force: kill the running task's worker process instead of
            interrupting it.
        recursive: also cancel the tasks it submitted, and theirs.

    Raises:
        TypeError: `object_ref` is not an ObjectRef.
    """
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
    """The total resources of the cluster's live nodes (of this process's
    node when it runs locally), e.g. {"CPU": 2.0, "memory": ..., ...}."""
    w = _ensure_connected()
    nodes = _cluster_nodes(w)
    if nodes is None:
        return dict(w.core.resources().total)
    return _sum(n.resources_total for n in nodes if n.alive)


def available_resources() -> Dict[str, float]:
    """The resources not held by running tasks and actors now, by name
    (resources all in use are left out, as Ray does)."""
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
    """The cluster's nodes, one dict each with Ray's fields: NodeID (hex),
    Alive, NodeManagerAddress, NodeManagerHostname, Resources (totals)."""
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
        "NodeManagerPort": n.node_manager_port,
        "Resources": dict(n.resources_total) if n.alive else {},
        "IsHead": n.is_head,
    } for n in infos]


def get_gpu_ids() -> List[int]:
    """The ids of the GPUs reserved for the running task or actor (num_gpus);
    [] in the driver."""
    return list(global_worker.current_gpu_ids)
