"""The `miniray` command (Ray's `ray` CLI, python/ray/scripts/scripts.py):

    miniray start --head [--port 6379] [--node-ip-address 127.0.0.1]
                  [--num-cpus N] [--num-gpus N] [--resources JSON]
                  [--object-store-memory BYTES] [--block]
    miniray start --address HOST:PORT [--node-ip-address IP] ...
    miniray stop [--force]
    miniray status [--address HOST:PORT]
    miniray list|summary|memory|logs|timeline ...   (util/state/state_cli.py)

Installed as a console script by the wheel, and runnable as
`python -m miniray`. Flags have Ray's names.
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import List, Optional

from miniray._private import cluster

READY_TIMEOUT_S = 30


def _fail(message: str) -> int:
    print(f"miniray: error: {message}", file=sys.stderr)
    return 1


def _port_in_use(ip: str, port: int) -> bool:
    """Whether something listens on ip:port (connections of a stopped
    cluster still in TIME_WAIT do not count: redis reuses the port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
            s.listen()
        except OSError:
            return True
    return False


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_node_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--node-ip-address", default="127.0.0.1",
                   help="the address this node listens on (loopback by default)")
    p.add_argument("--num-cpus", type=float, help="CPUs of this node (default: all)")
    p.add_argument("--num-gpus", type=float, default=0)
    p.add_argument("--resources", default="{}",
                   help='custom resources as JSON, e.g. \'{"disk": 2}\'')
    p.add_argument("--object-store-memory", type=int,
                   help="bytes of shared memory for objects")
    p.add_argument("--block", action="store_true",
                   help="stay in the foreground until the node stops (Ctrl-C stops it)")
    p.add_argument("--temp-dir", help="where session directories go (default /tmp/miniray)")
    p.add_argument("--node-manager-port", type=int, default=0,
                   help="the port of this node's gRPC NodeService on --node-ip-address, "
                        "for the other nodes (default: a free one)")
    p.add_argument("--redis-server-path", default=os.environ.get("MINIRAY_REDIS_SERVER"),
                   help="the redis-server program (default: found on PATH)")


def start(args) -> int:
    if not args.head and not args.address:
        return _fail("`miniray start` needs --head (start a cluster) or --address HOST:PORT "
                     "(join one)")
    if args.head and args.address:
        return _fail("--head and --address exclude each other")
    try:
        resources = json.loads(args.resources)
        if not isinstance(resources, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        return _fail(f"--resources must be a JSON object of resource amounts: {e}")
    if args.node_timeout_ms < 1000:
        return _fail(f"--node-timeout-ms must be at least 1000 (nodes report every 500 ms), "
                     f"got {args.node_timeout_ms}")
    if not 0 <= args.node_manager_port <= 65535:
        return _fail(f"--node-manager-port must be a port number (0-65535), got "
                     f"{args.node_manager_port}")
    for name, value in (("--num-cpus", args.num_cpus), ("--num-gpus", args.num_gpus)):
        if value is not None and value < 0:
            return _fail(f"{name} must be >= 0, got {value}")

    ip = args.node_ip_address
    if args.head:
        redis = args.redis_server_path or shutil.which("redis-server")
        if not redis or not os.access(redis, os.X_OK):
            return _fail("redis-server was not found: install Debian's redis-server "
                         "(./bazelw does), or give its path with --redis-server-path")
        if _port_in_use(ip, args.port):
            return _fail(f"port {args.port} on {ip} is already in use (another cluster, or "
                         "another program): pick another with --port")
        session = cluster.new_session(args.temp_dir)
        gcs_address = f"{ip}:{args.port}"
    else:
        try:
            gcs_address = cluster.resolve_address(args.address, args.temp_dir)
            gcs = cluster.connect_gcs(gcs_address, args.temp_dir)
        except (ConnectionError, ValueError) as e:
            return _fail(str(e))
        del gcs
        token = cluster.token_for(gcs_address, args.temp_dir)
        session = cluster.new_session(args.temp_dir)
        with open(os.path.join(session, "token"), "w") as f:
            f.write(token)  # this node's session uses the cluster's token
        with open(os.path.join(session, "address"), "w") as f:
            f.write(gcs_address)

    cmd = [sys.executable, "-m", "miniray._private.node_daemon", "--session-dir", session,
           "--node-ip-address", ip, "--num-gpus", str(args.num_gpus),
           "--resources", json.dumps(resources),
           "--node-manager-port", str(args.node_manager_port)]
    if args.head:
        cmd += ["--head", "--port", str(args.port), "--redis-server-path", redis,
                "--node-timeout-ms", str(args.node_timeout_ms)]
        if args.include_dashboard:
            cmd += ["--dashboard-host", args.dashboard_host,
                    "--dashboard-port", str(args.dashboard_port)]
    else:
        cmd += ["--gcs-address", gcs_address]
    if args.num_cpus is not None:
        cmd += ["--num-cpus", str(args.num_cpus)]
    if args.object_store_memory:
        cmd += ["--object-store-memory", str(args.object_store_memory)]
    log_path = os.path.join(session, "logs", f"node_daemon_{ip}.log")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] +
                                        [env.get("PYTHONPATH", "")])
    with open(log_path, "ab") as log:
        daemon = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  start_new_session=not args.block, env=env, close_fds=True)

    node_file = os.path.join(session, f"node_{ip}.json")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not os.path.exists(node_file):
        if daemon.poll() is not None:
            return _fail(f"the node daemon exited with code {daemon.returncode}; its log "
                         f"({log_path}) ends with:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            daemon.kill()
            return _fail(f"the node daemon did not start in {READY_TIMEOUT_S} s; see {log_path}")
        time.sleep(0.02)

    print(f"Local node IP: {ip}")
    print("--------------------")
    print("miniray runtime started." if args.head else "miniray runtime started (joined "
          f"the cluster at {gcs_address}).")
    print("--------------------")
    print("Next steps")
    if args.head:
        print("  To add another node to this cluster, run")
        print(f"    miniray start --address='{gcs_address}'")
    print("  To connect to this cluster from Python:")
    print("    import miniray")
    print(f"    miniray.init(address='auto')    # or address='{gcs_address}'")
    print("  To see the cluster's status:")
    print("    miniray status")
    print("  To terminate the miniray runtime, run")
    print("    miniray stop")
    print(f"  Session directory: {session}")
    if args.head and args.include_dashboard:
        with open(node_file) as f:
            url = json.load(f).get("dashboard_url")
        print(f"  Dashboard: {url}" if url else
              f"  Dashboard: not started (see {log_path})")
    sys.stdout.flush()
    if not args.block:
        return 0
    print("--block: this node runs until you press Ctrl-C.", flush=True)
    try:
        return daemon.wait()
    except KeyboardInterrupt:
        daemon.send_signal(signal.SIGTERM)
        return daemon.wait()


def _is_ours(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return needle in f.read()
    except OSError:
        return False


def stop(args) -> int:
    """Stops every node daemon (and its workers and redis) of this user's
    sessions under the temp dir."""
    sig = signal.SIGKILL if args.force else signal.SIGTERM
    targets = []
    for session in cluster.sessions(args.temp_dir):
        for info in cluster.node_files(session):
            pid = info.get("pid")
            if pid and _is_ours(pid, b"miniray._private.node_daemon"):
                targets.append((pid, info.get("redis_pid")))
    stopped = 0
    for pid, redis_pid in targets:
        try:
            os.kill(pid, sig)
            stopped += 1
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    for pid, redis_pid in targets:
        while _is_ours(pid, b"miniray._private.node_daemon") and time.monotonic() < deadline:
            time.sleep(0.05)
        if _is_ours(pid, b"miniray._private.node_daemon"):
            os.kill(pid, signal.SIGKILL)
        # Redis dies with its daemon; make sure of it.
        if redis_pid and _is_ours(redis_pid, b"redis-server"):
            os.kill(redis_pid, signal.SIGKILL)
    print(f"Stopped {stopped} miniray node daemon{'s' if stopped != 1 else ''}.")
    return 0


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return f"{n}B"


def _local_status(temp_dir) -> int:
    """`miniray status` of a running program's embedded node (no cluster)."""
    from miniray.util.state import api
    try:
        session, info = cluster.find_local_runtime(temp_dir)
        with api._source(None, temp_dir) as src:
            state = src.core.get_state(workers=True)
    except ConnectionError as e:
        return _fail(str(e))
    node = state.snapshot.node
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    print(f"======== Status of the miniray runtime of pid {info['pid']}: {now} ========")
    print(f"Session: {session}\nNode: node_{node.node_id.hex()} (embedded in pid {info['pid']})")
    print("Resources\n" + "-" * 63 + "\nUsage:")
    for name in sorted(node.resources_total):
        total, used = node.resources_total[name], \
            node.resources_total[name] - node.resources_available.get(name, 0)
        if name in ("memory", "object_store_memory"):
            print(f" {_bytes(used)}/{_bytes(total)} {name}")
        else:
            print(f" {used:g}/{total:g} {name}")
    print(f"\nObject store: {_bytes(node.object_store_used)} in {node.num_objects} objects; "
          f"{len(state.workers)} workers and drivers, {node.num_pending_tasks} pending tasks")
    return 0


def status(args) -> int:
    try:
        address = cluster.resolve_address(args.address, args.temp_dir)
        gcs = cluster.connect_gcs(address, args.temp_dir)
        nodes = gcs.nodes()
    except (ConnectionError, ValueError) as e:
        if args.address is None:
            return _local_status(args.temp_dir)
        return _fail(str(e))
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    print(f"======== Cluster status: {now} ========")
    print(f"GCS address: {address}")
    print("Node status")
    print("-" * 63)
    alive = [n for n in nodes if n.alive]
    dead = [n for n in nodes if not n.alive]
    print("Active:")
    for n in alive:
        head = ", head" if n.is_head else ""
        print(f" 1 node_{n.node_id.hex()} ({n.node_manager_address}{head})")
    if not alive:
        print(" (no active nodes)")
    print("Dead:")
    for n in dead:
        print(f" 1 node_{n.node_id.hex()} ({n.node_manager_address}): {n.death_reason}")
    if not dead:
        print(" (no dead nodes)")
    print()
    print("Resources")
    print("-" * 63)
    print("Usage:")
    total, available = {}, {}
    for n in alive:
        for k, v in n.resources_total.items():
            total[k] = total.get(k, 0) + v
        for k, v in n.resources_available.items():
            available[k] = available.get(k, 0) + v
    for name in sorted(total):
        if name.startswith("node:"):
            continue
        used = total[name] - available.get(name, 0)
        if name in ("memory", "object_store_memory"):
            print(f" {_bytes(used)}/{_bytes(total[name])} {name}")
        else:
            print(f" {used:g}/{total[name]:g} {name}")
    print()
    print("Object store")
    print("-" * 63)
    for n in alive:
        print(f" node_{n.node_id.hex()[:8]}: {_bytes(n.object_store_used)} in "
              f"{n.num_objects} objects; {n.num_workers} workers, "
              f"{n.num_pending_tasks} pending tasks")
    jobs = gcs.jobs()
    running = sum(1 for j in jobs if not j.is_dead)
    actors = [a for a in gcs.actors() if a.state != "DEAD"]
    print()
    print(f"Jobs: {running} running, {len(jobs) - running} finished; actors: {len(actors)} alive")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `miniray status | head` ends quietly
    parser = argparse.ArgumentParser(prog="miniray", description="Start, stop and inspect a "
                                     "miniray cluster (the names of Ray's `ray` command).")
    sub = parser.add_subparsers(
        dest="command",
        metavar="{start,stop,status,list,summary,memory,logs,timeline,dashboard}")
    sub.required = True
    p = sub.add_parser("start", help="start a node: a new cluster's head, or one that joins")
    p.add_argument("--head", action="store_true", help="start a new cluster with this node")
    p.add_argument("--address", help="join the cluster at HOST:PORT")
    p.add_argument("--port", type=int, default=cluster.DEFAULT_PORT,
                   help="the head's GCS (Redis) port")
    p.add_argument("--include-dashboard", type=_bool, default=True, metavar="BOOL",
                   help="serve the dashboard from the head (default true)")
    p.add_argument("--dashboard-host", default="127.0.0.1",
                   help="the dashboard's address (default loopback)")
    p.add_argument("--dashboard-port", type=int, default=8265,
                   help="the dashboard's port (default 8265; 0: any free one)")
    p.add_argument("--node-timeout-ms", type=int, default=10_000,
                   help="the head declares a node dead after this long without a "
                        "heartbeat (default 10000; nodes report every 500 ms)")
    _add_node_flags(p)
    p.set_defaults(run=start)
    p = sub.add_parser("stop", help="stop the miniray processes of this machine")
    p.add_argument("--force", action="store_true", help="SIGKILL instead of SIGTERM")
    p.add_argument("--temp-dir")
    p.set_defaults(run=stop)
    p = sub.add_parser("status", help="the cluster's nodes and resource use")
    p.add_argument("--address", help="HOST:PORT of the cluster (default: this machine's)")
    p.add_argument("--temp-dir")
    p.set_defaults(run=status)
    from miniray.util.state import state_cli
    state_cli.add_commands(sub)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
