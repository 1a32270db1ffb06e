"""How far one Redis (the GCS's tables) goes: heartbeats of 100 and 1,000 nodes.

    bazel run //benchmarks:gcs_scale -- [--nodes 100 1000] [--seconds 10]

Starts a real redis-server (Debian's, on a free loopback port, with a
password, in a temporary directory) and simulates nodes: each has its own
GcsClient connection and reports its snapshot (its GcsNodeInfo row, one job,
two actors: what a node daemon sends) every 0.5 s, as `miniray start` nodes
do; the head's liveness check (`mark_silent_nodes_dead`, one HGETALL of the
node table) runs every second. One process drives every simulated node, so
the figure that matters is Redis's own CPU, read from `INFO cpu`: the
fraction of one core Redis used for the offered load, and the report
latency. Reports of a round that do not fit in 0.5 s from this single
driver are counted as a shortfall rather than hidden.
"""
import argparse
import os
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    import _miniray_core
    from _miniray_core import rpc

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    redis_path = shutil.which("redis-server")
    if not redis_path:
        sys.exit("redis-server is not installed (./bazelw installs it)")
    tmp = tempfile.mkdtemp(prefix="miniray-gcs-scale-")
    port, token = free_port(), secrets.token_hex(16)
    redis = subprocess.Popen(
        [redis_path, "--bind", "127.0.0.1", "--port", str(port), "--requirepass", token,
         "--save", "", "--appendonly", "no", "--dir", tmp, "--maxclients", "20000",
         "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                head = _miniray_core.GcsClient("127.0.0.1", port, token, 1000)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

        def cpu_seconds() -> float:
            with open(f"/proc/{redis.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        print(f"redis-server {port}; each node reports every 0.5 s, the head checks "
              f"liveness every 1 s; {args.seconds:g} s per size")
        print(f"{'nodes':>6} {'reports/s':>10} {'offered/s':>10} {'redis CPU':>10} "
              f"{'report p50':>11} {'report p99':>11} {'liveness':>9}")
        for n in args.nodes:
            clients = [_miniray_core.GcsClient("127.0.0.1", port, token, 5000) for _ in range(n)]
            snapshots = []
            for i in range(n):
                node = rpc.GcsNodeInfo(
                    node_id=os.urandom(16), node_manager_address=f"10.0.{i // 250}.{i % 250}",
                    node_manager_hostname=f"host{i}", socket_name=f"miniray-{i}",
                    resources_total={"CPU": 64.0, "memory": 2.5e11, "object_store_memory": 7e10,
                                     f"node:10.0.{i // 250}.{i % 250}": 1.0},
                    resources_available={"CPU": 12.0, "memory": 2.0e11,
                                         "object_store_memory": 6e10},
                    alive=True, pid=1000 + i, start_time_ms=int(time.time() * 1000),
                    object_store_used=10 ** 10, num_objects=5000, num_workers=64,
                    num_pending_tasks=100)
                jobs = [rpc.JobTableData(job_id=os.urandom(4), node_id=node.node_id,
                                         driver_pid=1, start_time_ms=1, ray_namespace="default",
                                         entrypoint="python job.py")]
                actors = [rpc.ActorTableData(actor_id=os.urandom(16), job_id=jobs[0].job_id,
                                             class_name="Worker", state="ALIVE",
                                             node_id=node.node_id, pid=2000 + k)
                          for k in range(2)]
                snapshots.append(rpc.NodeSnapshot(node=node, jobs=jobs, actors=actors))
            latencies, liveness, reports, rounds_late = [], [], 0, 0
            cpu0, t0 = cpu_seconds(), time.monotonic()
            next_round, next_check = t0, t0
            while time.monotonic() - t0 < args.seconds:
                now = time.monotonic()
                if now >= next_check:
                    s = time.perf_counter()
                    head.mark_silent_nodes_dead(10_000)
                    liveness.append(time.perf_counter() - s)
                    next_check += 1.0
                if now < next_round:
                    time.sleep(min(next_round, next_check) - now)
                    continue
                for client, snap in zip(clients, snapshots):
                    s = time.perf_counter()
                    client.report(snap)
                    latencies.append(time.perf_counter() - s)
                    reports += 1
                next_round += 0.5
                if time.monotonic() > next_round:
                    rounds_late += 1
            wall = time.monotonic() - t0
            cpu = (cpu_seconds() - cpu0) / wall
            q = statistics.quantiles(latencies, n=100)
            print(f"{n:>6} {reports / wall:>10,.0f} {2 * n:>10,} {100 * cpu:>9.1f}% "
                  f"{statistics.median(latencies) * 1e6:>9.0f}us {q[98] * 1e6:>9.0f}us "
                  f"{statistics.median(liveness) * 1e3:>7.1f}ms"
                  + (f"   ({rounds_late} rounds overran 0.5 s in this one driver)"
                     if rounds_late else ""))
            del clients
            # Each size starts from an empty table.
            subprocess.run(["redis-cli", "-p", str(port), "-a", token, "--no-auth-warning",
                            "FLUSHALL"], stdout=subprocess.DEVNULL, check=False)
    finally:
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
