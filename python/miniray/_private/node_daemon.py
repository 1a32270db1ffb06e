"""The node daemon: a NodeRuntime in a process of its own (Ray's raylet), for
drivers that attach (`miniray.init(address=...)`) and their workers.

Started by `miniray start` as

    python -m miniray._private.node_daemon --session-dir DIR --node-ip-address IP
        (--head --port PORT | --gcs-address IP:PORT) [--num-cpus N ...]

All the work happens in C++ threads (the node runtime, and the GCS client's
calls); this module wires them up and keeps time:

- on the head it first starts Debian's redis-server (the GCS's store),
  bound to the node's address, with the cluster token as its password and
  no files but its log; redis dies with the daemon (PR_SET_PDEATHSIG);
- it reports to the GCS every heartbeat (its row, its jobs and actors, new
  exported functions); once the cluster declares it dead it stops;
- on the head it also decides liveness: nodes silent for
  --node-timeout-ms are declared dead;
- SIGTERM or SIGINT stops it: its workers, redis, and its row goes dead.
"""
import argparse
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In a child before exec: die when this daemon does."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def start_redis(path, ip, port, token, session):
    log = os.path.join(session, "logs", "redis.log")
    proc = subprocess.Popen(
        [path, "--bind", ip, "--port", str(port), "--requirepass", token,
         "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
         "--dir", os.path.join(session, "logs"), "--logfile", log, "--loglevel", "warning"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent, close_fds=True)
    with open(os.path.join(session, "redis.pid"), "w") as f:
        f.write(str(proc.pid))
    return proc


def connect_gcs(ip, port, token, redis=None, deadline_s=15.0):
    import _miniray_core
    deadline = time.monotonic() + deadline_s
    while True:
        if redis is not None and redis.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {redis.returncode} (is port "
                               f"{port} on {ip} taken?)")
        try:
            return _miniray_core.GcsClient(ip, port, token, 500)
        except Exception:  # noqa: BLE001 - not answering yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def worker_base_env():
    """What a job's workers need to import miniray at all (each attached
    driver adds its own environment: see worker.job_worker_env)."""
    import _miniray_core
    import miniray
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(miniray.__file__)))
    core_root = os.path.dirname(os.path.abspath(_miniray_core.__file__))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([pkg_root, core_root]))
    return [f"{k}={v}" for k, v in env.items()]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="miniray node daemon")
    parser.add_argument("--session-dir", required=True)
    parser.add_argument("--node-ip-address", default="127.0.0.1")
    parser.add_argument("--head", action="store_true")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--gcs-address")
    parser.add_argument("--num-cpus", type=float)
    parser.add_argument("--num-gpus", type=float, default=0)
    parser.add_argument("--resources", default="{}")
    parser.add_argument("--object-store-memory", type=int)
    parser.add_argument("--redis-server-path", default="redis-server")
    parser.add_argument("--heartbeat-ms", type=int, default=500)
    parser.add_argument("--node-timeout-ms", type=int, default=10_000)
    parser.add_argument("--dashboard-host", help="serve the dashboard here (the head)")
    parser.add_argument("--dashboard-port", type=int, default=8265)
    parser.add_argument("--node-manager-port", type=int, default=0,
                        help="NodeService's gRPC port on --node-ip-address (0: a free one)")
    args = parser.parse_args(argv)

    import _miniray_core
    from _miniray_core import rpc

    from miniray._private import cluster
    from miniray._private.worker import _default_object_store_memory, _total_memory

    session, ip = args.session_dir, args.node_ip_address
    token = cluster.read(session, "token")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    redis = None
    if args.head:
        redis = start_redis(args.redis_server_path, ip, args.port, token, session)
        gcs_address = f"{ip}:{args.port}"
    else:
        gcs_address = args.gcs_address
    host, port = cluster.parse_address(gcs_address)
    try:
        gcs = connect_gcs(host, port, token, redis)
    except Exception as e:  # noqa: BLE001 - reported to `miniray start`, which waits
        print(f"miniray node daemon: cannot reach the GCS at {gcs_address}: {e}", flush=True)
        if redis is not None:
            redis.kill()
        return 1

    num_cpus = args.num_cpus if args.num_cpus is not None else (os.cpu_count() or 1)
    store = args.object_store_memory or _default_object_store_memory()
    resources = {"CPU": float(num_cpus), "memory": float(_total_memory() * 0.7),
                 "object_store_memory": float(store)}
    if args.num_gpus:
        resources["GPU"] = float(args.num_gpus)
    resources.update({k: float(v) for k, v in json.loads(args.resources).items()})
    resources[f"node:{ip}"] = 1.0  # as Ray: a resource naming the node
    # The node's runtime messages go through `logging` (to this daemon's log
    # file, with a time stamp), drained at each heartbeat.
    import logging
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    node_logger = logging.getLogger("miniray.node")
    _miniray_core.NodeRuntime.queue_logs(True)

    def drain_node_logs():
        for line in _miniray_core.NodeRuntime.take_logs():
            node_logger.log(logging.WARNING if line.startswith("warning") else logging.INFO,
                            line)

    node = _miniray_core.NodeRuntime(rpc.NodeConfig(
        resources=resources,
        object_store_memory=store,
        prestart_workers=int(max(1, min(num_cpus, 64))),
        max_workers=max(8, int(num_cpus) * 8),
        worker_argv=[sys.executable, "-m", "miniray._private.worker_main"],
        worker_env=worker_base_env(),
        spill_dir=session,
        local_job=False,
    ))
    start_ms = int(time.time() * 1000)
    # NodeService: the other nodes' drivers run tasks here and pull objects.
    from miniray._private.peer_service import PeerService
    try:
        peers = PeerService(node.socket_name, ip, args.node_manager_port, token,
                            os.path.join(session, "logs"))
    except Exception as e:  # noqa: BLE001 - a taken port, an address not ours
        print(f"miniray node daemon: cannot serve NodeService on {ip}:"
              f"{args.node_manager_port}: {e}", flush=True)
        node.stop()
        if redis is not None:
            redis.kill()
        return 1

    def report():
        snapshot = node.snapshot()
        row = snapshot.node
        row.node_manager_address = ip
        row.node_manager_hostname = socket.gethostname()
        row.is_head = args.head
        row.start_time_ms = start_ms
        row.session_dir = session
        row.node_manager_port = peers.server.port
        gcs.report(snapshot)
        return row

    try:
        row = report()
    except Exception as e:  # noqa: BLE001
        print(f"miniray node daemon: first report to the GCS failed: {e}", flush=True)
        peers.stop()
        node.stop()
        return 1
    node_id = row.node_id
    dashboard = None
    if args.dashboard_host:
        from miniray.dashboard import server
        try:
            dashboard = server.start_for_daemon(
                node.socket_name, session, token, connect_gcs(host, port, token, None),
                args.dashboard_host, args.dashboard_port)
        except ConnectionError as e:  # as Ray: the cluster runs without it
            print(f"miniray node daemon: no dashboard: {e}", flush=True)
    if args.head:
        with open(os.path.join(session, "address"), "w") as f:
            f.write(gcs_address)
    cluster.write_node_file(session, ip, {
        "pid": os.getpid(), "node_id": node_id.hex(), "socket_name": node.socket_name,
        "gcs_address": gcs_address, "head": args.head, "redis_pid": redis.pid if redis else None,
        "dashboard_url": dashboard.url if dashboard else None,
        "node_manager_address": peers.address,
    })
    print(f"miniray node daemon: node {node_id.hex()} on {ip} ready "
          f"(GCS at {gcs_address}, socket {node.socket_name}, NodeService at "
          f"{peers.address})", flush=True)

    last_check = 0.0
    while not stop.wait(args.heartbeat_ms / 1000):
        drain_node_logs()
        try:
            report()
        except RuntimeError as e:  # the cluster declared this node dead
            if "declared" in str(e):
                print(f"miniray node daemon: stopping: {e}", flush=True)
                break
            print(f"miniray node daemon: lost the GCS: {e}", flush=True)
            if args.head:
                break
            continue
        except ConnectionError as e:
            print(f"miniray node daemon: lost the GCS: {e}", flush=True)
            if args.head:
                break
            continue
        if time.monotonic() - last_check > 1.0:
            last_check = time.monotonic()
            try:  # jobs of drivers killed before they could end them here
                if peers.has_jobs():
                    peers.end_jobs_of_dead_drivers(gcs.jobs())
            except Exception as e:  # noqa: BLE001 - the GCS answers next time
                print(f"miniray node daemon: reading the job table: {e}", flush=True)
            if not args.head:
                continue
            for dead in gcs.mark_silent_nodes_dead(args.node_timeout_ms):
                print(f"miniray node daemon: node {dead.hex()} missed its heartbeats: dead",
                      flush=True)

    if dashboard is not None:
        dashboard.stop()
    peers.stop()
    node.stop()
    drain_node_logs()
    try:
        gcs.mark_node_dead(node_id, "its daemon stopped")
    except Exception:  # noqa: BLE001 - redis may be gone already
        pass
    if redis is not None:
        redis.terminate()
        try:
            redis.wait(5)
        except subprocess.TimeoutExpired:
            redis.kill()
    print("miniray node daemon: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
