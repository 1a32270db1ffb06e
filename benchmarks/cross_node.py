"""Between nodes: object transfer and task rates on a three-node cluster on
this machine (127.0.0.1, .2, .3), miniray beside Ray in the same run.

    bazel run //benchmarks:cross_node -- --ray-python /path/to/venv/bin/python
    python benchmarks/cross_node.py [--ray-python PATH] [--repeat N] [--runs N]

For each implementation the script starts a cluster with its own command
line (`miniray start` / `ray start`: a head on 127.0.0.1, nodes on
127.0.0.2 and 127.0.0.3, one CPU and 2 GB of object store each), runs a
driver attached to the head in a fresh interpreter, and stops the cluster.
The driver measures:

- transfer: a 200 MB numpy array made by a task on node 2, then pulled by
  the driver's node (get on the driver): GB/s; and the same array summed by
  a task on node 3 (pulled node 2 -> node 3, plus a task): seconds;
- remote tasks: no-op tasks placed on node 2 (NodeAffinity), 1,000 in a
  batch (async) and one at a time (sync): tasks/s;
- spillback: 30 tasks of 0.2 s submitted at once with no placement asked
  for (the driver's node has one CPU of the cluster's three: 2.0 s if the
  work spreads over the nodes, 6.0 s if it stays): seconds;
- a placement group of three 1-CPU bundles, STRICT_SPREAD (one per node),
  from placement_group() to ready(): seconds.

The multiprocessing line is this machine's floor for the same moves
between two processes (a 200 MB bytes object through a Pipe; no-op calls to
a Pool of one process). Ratios: miniray / baseline for rates and baseline /
miniray for times, so > 1 means miniray is faster.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

MB = 1024 * 1024
SIZE = 200 * MB
N_ASYNC = 1000
N_SYNC = 200
IPS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
STORE = 2 * 1024 * MB

METRICS = [  # (name, unit, higher is better)
    ("transfer_to_driver", "GB/s", True),
    ("sum_on_third_node", "s", False),
    ("remote_async_tasks", "1/s", True),
    ("remote_sync_tasks", "1/s", True),
    ("spill_30_naps", "s", False),
    ("pg_across_nodes", "s", False),
]
N_NAPS, NAP_S = 30, 0.2


# ---------------------------------------------------------------------------
# The driver (a child interpreter): the same code for miniray and Ray.

def run_driver(module_name: str, address: str, repeat: int) -> dict:
    import numpy as np
    ray = __import__(module_name)
    ray.init(address=address, **({"log_to_driver": False} if module_name == "ray" else {}))
    if module_name == "ray":
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    else:
        from miniray.util.placement_group import placement_group, remove_placement_group
        from miniray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    ids = {n["NodeManagerAddress"]: n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert IPS[1] in ids and IPS[2] in ids, ids
    on2 = NodeAffinitySchedulingStrategy(ids[IPS[1]], soft=False)
    on3 = NodeAffinitySchedulingStrategy(ids[IPS[2]], soft=False)

    @ray.remote(num_returns=2)
    def make(n, seed):
        return np.full(n, seed % 251, dtype=np.uint8), seed

    @ray.remote
    def total(a):
        return int(a.sum(dtype=np.int64))

    @ray.remote
    def noop():
        return None

    @ray.remote
    def nap(seconds):
        time.sleep(seconds)

    out = {"transfer_to_driver": [], "sum_on_third_node": [], "remote_async_tasks": [],
           "remote_sync_tasks": [], "spill_30_naps": [], "pg_across_nodes": []}
    ray.get(noop.options(scheduling_strategy=on2).remote())  # workers up
    ray.get(total.options(scheduling_strategy=on3).remote(np.zeros(10, dtype=np.uint8)))
    for r in range(repeat):
        # Made on node 2; its small second return says when, without moving the array.
        a, done = make.options(scheduling_strategy=on2).remote(SIZE, r + 1)
        ray.get(done)
        t0 = time.perf_counter()
        s = ray.get(total.options(scheduling_strategy=on3).remote(a))
        out["sum_on_third_node"].append(time.perf_counter() - t0)
        assert s == SIZE * ((r + 1) % 251), s
        a, done = make.options(scheduling_strategy=on2).remote(SIZE, r + 2)
        ray.get(done)
        t0 = time.perf_counter()
        arr = ray.get(a)
        out["transfer_to_driver"].append(SIZE / (time.perf_counter() - t0) / 1e9)
        assert arr.shape == (SIZE,) and arr[-1] == (r + 2) % 251
        del arr, a

        t0 = time.perf_counter()
        ray.get([noop.options(scheduling_strategy=on2).remote() for _ in range(N_ASYNC)])
        out["remote_async_tasks"].append(N_ASYNC / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for _ in range(N_SYNC):
            ray.get(noop.options(scheduling_strategy=on2).remote())
        out["remote_sync_tasks"].append(N_SYNC / (time.perf_counter() - t0))

        time.sleep(1.5)  # every node idle, and seen so by the cluster
        t0 = time.perf_counter()
        ray.get([nap.remote(NAP_S) for _ in range(N_NAPS)])
        out["spill_30_naps"].append(time.perf_counter() - t0)
        time.sleep(1.5)
        t0 = time.perf_counter()
        pg = placement_group([{"CPU": 1}] * 3, strategy="STRICT_SPREAD")
        ray.get(pg.ready())
        out["pg_across_nodes"].append(time.perf_counter() - t0)
        remove_placement_group(pg)
    ray.shutdown()
    return {k: statistics.median(v) for k, v in out.items()}


def _echo(conn):
    data = conn.recv_bytes()
    conn.send(len(data))


def _noop(_):
    return None


def _nap(seconds):
    time.sleep(seconds)


def run_multiprocessing(repeat: int) -> dict:
    import multiprocessing as mp
    out = {"transfer_to_driver": [], "remote_async_tasks": [], "remote_sync_tasks": [],
           "spill_30_naps": []}
    ctx = mp.get_context("fork")
    payload = bytes(SIZE)
    with ctx.Pool(1) as pool:
        for _ in range(repeat):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_echo, args=(child,))
            p.start()
            t0 = time.perf_counter()
            parent.send_bytes(payload)
            assert parent.recv() == SIZE
            out["transfer_to_driver"].append(SIZE / (time.perf_counter() - t0) / 1e9)
            p.join()
            t0 = time.perf_counter()
            [r.get() for r in [pool.apply_async(_noop, (i,)) for i in range(N_ASYNC)]]
            out["remote_async_tasks"].append(N_ASYNC / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            for i in range(N_SYNC):
                pool.apply(_noop, (i,))
            out["remote_sync_tasks"].append(N_SYNC / (time.perf_counter() - t0))
    with ctx.Pool(3) as pool:  # the cluster's three CPUs
        for _ in range(repeat):
            t0 = time.perf_counter()
            pool.map(_nap, [NAP_S] * N_NAPS, chunksize=1)
            out["spill_30_naps"].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in out.items()}


# ---------------------------------------------------------------------------
# Clusters

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd, env):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def _cluster_cmds(impl: str, python: str, port: int, temp_dir: str):
    """The commands that start and stop a three-node cluster."""
    if impl == "miniray":
        cli = [python, "-m", "miniray"]
        common = ["--num-cpus", "1", "--object-store-memory", str(STORE), "--temp-dir", temp_dir]
        starts = [cli + ["start", "--head", "--port", str(port), "--include-dashboard",
                         "false"] + common]
        starts += [cli + ["start", "--address", f"127.0.0.1:{port}", "--node-ip-address", ip]
                   + common for ip in IPS[1:]]
        return starts, cli + ["stop", "--temp-dir", temp_dir]
    ray_bin = os.path.join(os.path.dirname(python), "ray")
    common = ["--num-cpus", "1", "--object-store-memory", str(STORE), "--disable-usage-stats"]
    starts = [[ray_bin, "start", "--head", "--node-ip-address", IPS[0], "--port", str(port),
               "--include-dashboard", "false", "--temp-dir", temp_dir] + common]
    starts += [[ray_bin, "start", "--address", f"127.0.0.1:{port}", "--node-ip-address", ip]
               + common for ip in IPS[1:]]
    return starts, [ray_bin, "stop", "--force"]


def measure(impl: str, python: str, repeat: int) -> dict:
    temp_dir = tempfile.mkdtemp(prefix=f"xnode-{impl}-")
    port = _free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    if impl == "miniray":
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env["MINIRAY_TEMP_DIR"] = temp_dir
    else:
        env.pop("PYTHONPATH", None)
        # Ray 2.60 refuses nodes that join from another address without
        # token authentication: both clusters run with a token, then.
        import secrets
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    starts, stop = _cluster_cmds(impl, python, port, temp_dir)
    try:
        for cmd in starts:
            _run(cmd, env)
        cmd = [python, os.path.abspath(__file__), "--child", impl, "--address",
               f"127.0.0.1:{port}", "--repeat", str(repeat)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            print(f"[{impl}] failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
            return {}
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(stop, env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _fmt(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="measurements per cluster")
    parser.add_argument("--runs", type=int, default=3, help="fresh clusters per implementation")
    parser.add_argument("--ray-python", help="an interpreter where `import ray` works")
    args = parser.parse_args()
    if args.child == "multiprocessing":
        print(json.dumps(run_multiprocessing(args.repeat)))
        return
    if args.child:
        print(json.dumps(run_driver(args.child, args.address, args.repeat)))
        return

    runs = {"miniray": [], "ray": [], "multiprocessing": []}
    for _ in range(args.runs):  # alternate, so that both see the same machine
        runs["miniray"].append(measure("miniray", sys.executable, args.repeat))
        if args.ray_python:
            runs["ray"].append(measure("ray", args.ray_python, args.repeat))
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                               "multiprocessing", "--repeat", str(args.repeat)],
                              capture_output=True, text=True, timeout=600)
        runs["multiprocessing"].append(json.loads(proc.stdout.strip().splitlines()[-1]))

    def med(name, metric):
        vals = [r[metric] for r in runs[name] if r and metric in r]
        return (statistics.median(vals), min(vals), max(vals)) if vals else None

    print(f"{'metric':<22}{'unit':>6}{'miniray':>12}{'ray':>12}{'ratio':>8}"
          f"{'multiproc.':>12}{'ratio':>8}   spread miniray / ray")
    for metric, unit, higher in METRICS:
        m, r, p = med("miniray", metric), med("ray", metric), med("multiprocessing", metric)
        line = f"{metric:<22}{unit:>6}{_fmt(m and m[0]):>12}{_fmt(r and r[0]):>12}"
        for base in (r, p):
            ratio = "-"
            if base and m:
                ratio = f"{(m[0] / base[0] if higher else base[0] / m[0]):.2f}x"
            line += f"{ratio:>8}" if base is r else f"{_fmt(p and p[0]):>12}{ratio:>8}"
        spread = f"   {_fmt(m[1])}-{_fmt(m[2])}" if m else "   -"
        spread += f" / {_fmt(r[1])}-{_fmt(r[2])}" if r else ""
        print(line + spread)
    print(f"\n(medians of {args.runs} fresh clusters x {args.repeat} measurements; 200 MB "
          f"arrays; {N_ASYNC} async / {N_SYNC} sync tasks on node 2; {N_NAPS} tasks of "
          f"{NAP_S} s placed by the scheduler (multiprocessing: a Pool of 3); ratio > 1: "
          f"miniray is faster)")


if __name__ == "__main__":
    main()
