"""miniray microbenchmarks, each next to a baseline measured in the same run.

    bazel run //benchmarks:microbenchmark
    python benchmarks/microbenchmark.py [--ray-python PATH] [--repeat N]

Every figure is the median of --repeat runs. Each implementation runs in its
own fresh interpreter (so start-up is measured cold): miniray, the standard
library's multiprocessing (always), and Ray (when `import ray` works in this
interpreter or in --ray-python). Ratios are miniray / baseline for rates and
baseline / miniray for times, so > 1 always means miniray is faster.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

N_ASYNC = 10_000
N_SYNC = 2_000
N_PUTGET = 10_000
BIG = 100 * 1024 * 1024  # bytes


def _median_of(repeat, fn):
    return statistics.median(fn() for _ in range(repeat))


def _wordcount_inputs():
    rng_words = [f"w{i}" for i in range(2000)]
    return [" ".join(rng_words[(i * 7 + j) % 2000] for j in range(20000)) for i in range(16)]


# ---------------------------------------------------------------------------
# One implementation, run in a child interpreter; prints a JSON dict.

def run_ray_like(module_name: str, repeat: int) -> dict:
    import numpy as np
    t0 = time.perf_counter()
    ray = __import__(module_name)
    kwargs = {"num_cpus": 2}
    if module_name == "ray":
        kwargs.update(include_dashboard=False, log_to_driver=False)
    if os.environ.get("MINIRAY_ADDRESS"):  # a driver attached to a running cluster
        kwargs = {"address": os.environ["MINIRAY_ADDRESS"]}
    ray.init(**kwargs)

    @ray.remote
    def noop():
        return None

    ray.get(noop.remote())
    out = {"init_to_first_result_s": time.perf_counter() - t0}

    @ray.remote
    def count(text):
        counts = {}
        for w in text.split():
            counts[w] = counts.get(w, 0) + 1
        return counts

    @ray.remote
    def merge(*parts):
        total = {}
        for p in parts:
            for k, v in p.items():
                total[k] = total.get(k, 0) + v
        return total

    @ray.remote
    def shape(a):
        return a.shape

    ray.get([noop.remote() for _ in range(200)])  # warm every worker

    def async_rate():
        t = time.perf_counter()
        ray.get([noop.remote() for _ in range(N_ASYNC)])
        return N_ASYNC / (time.perf_counter() - t)

    def sync_rate():
        t = time.perf_counter()
        for _ in range(N_SYNC):
            ray.get(noop.remote())
        return N_SYNC / (time.perf_counter() - t)

    def putget_rate():
        t = time.perf_counter()
        for i in range(N_PUTGET):
            ray.get(ray.put(i))
        return N_PUTGET / (time.perf_counter() - t)

    arr = np.ones(BIG // 8, dtype=np.float64)

    def put_gbps():
        t = time.perf_counter()
        ref = ray.put(arr)
        dt = time.perf_counter() - t
        del ref
        return BIG / dt / 1e9

    big_ref = ray.put(arr)

    def get_ms():
        t = time.perf_counter()
        a = ray.get(big_ref)
        dt = time.perf_counter() - t
        assert a.shape == arr.shape
        return dt * 1e3

    def task_arg_ms():
        t = time.perf_counter()
        ray.get(shape.remote(arr))
        return (time.perf_counter() - t) * 1e3

    texts = _wordcount_inputs()

    def mapreduce_s():
        t = time.perf_counter()
        parts = [count.remote(x) for x in texts]
        ray.get(merge.remote(*parts))
        return time.perf_counter() - t

    @ray.remote
    class Actor:
        def noop(self):
            return None

    actor = Actor.remote()
    ray.get([actor.noop.remote() for _ in range(200)])

    def actor_async_rate():
        t = time.perf_counter()
        ray.get([actor.noop.remote() for _ in range(N_ASYNC)])
        return N_ASYNC / (time.perf_counter() - t)

    def actor_sync_rate():
        t = time.perf_counter()
        for _ in range(N_SYNC):
            ray.get(actor.noop.remote())
        return N_SYNC / (time.perf_counter() - t)

    out["async_tasks_per_s"] = _median_of(repeat, async_rate)
    out["sync_tasks_per_s"] = _median_of(repeat, sync_rate)
    out["actor_async_calls_per_s"] = _median_of(repeat, actor_async_rate)
    out["actor_sync_calls_per_s"] = _median_of(repeat, actor_sync_rate)
    out["small_put_get_per_s"] = _median_of(repeat, putget_rate)
    out["put_100mb_gb_per_s"] = _median_of(repeat, put_gbps)
    out["get_100mb_ms"] = _median_of(repeat, get_ms)
    out["task_100mb_arg_ms"] = _median_of(repeat, task_arg_ms)
    out["mapreduce_s"] = _median_of(repeat, mapreduce_s)
    ray.shutdown()
    return out


def _mp_noop(*_):
    return None


def _mp_shape(a):
    return a.shape


def _mp_count(text):
    counts = {}
    for w in text.split():
        counts[w] = counts.get(w, 0) + 1
    return counts


def _mp_actor_loop(conn):
    """A stateful worker process: the multiprocessing analogue of an actor."""
    state = 0
    while True:
        msg = conn.recv()
        if msg is None:
            return
        state += 1
        conn.send(None)


def run_multiprocessing(repeat: int) -> dict:
    import multiprocessing as mp

    import numpy as np
    t0 = time.perf_counter()
    pool = mp.Pool(2)
    pool.apply(_mp_noop)
    out = {"init_to_first_result_s": time.perf_counter() - t0}

    def async_rate():
        t = time.perf_counter()
        rs = [pool.apply_async(_mp_noop) for _ in range(N_ASYNC)]
        [r.get() for r in rs]
        return N_ASYNC / (time.perf_counter() - t)

    def sync_rate():
        t = time.perf_counter()
        for _ in range(N_SYNC):
            pool.apply(_mp_noop)
        return N_SYNC / (time.perf_counter() - t)

    arr = np.ones(BIG // 8, dtype=np.float64)

    def task_arg_ms():
        t = time.perf_counter()
        pool.apply(_mp_shape, (arr,))
        return (time.perf_counter() - t) * 1e3

    texts = _wordcount_inputs()

    def mapreduce_s():
        t = time.perf_counter()
        parts = pool.map(_mp_count, texts)
        total = {}
        for p in parts:
            for k, v in p.items():
                total[k] = total.get(k, 0) + v
        return time.perf_counter() - t

    parent, child = mp.Pipe()
    proc = mp.Process(target=_mp_actor_loop, args=(child,))
    proc.start()

    def actor_async_rate():
        # Pipelined in windows: unbounded sends would fill the pipe both ways.
        t = time.perf_counter()
        window = 100
        for _ in range(N_ASYNC // window):
            for _ in range(window):
                parent.send("noop")
            for _ in range(window):
                parent.recv()
        return N_ASYNC / (time.perf_counter() - t)

    def actor_sync_rate():
        t = time.perf_counter()
        for _ in range(N_SYNC):
            parent.send("noop")
            parent.recv()
        return N_SYNC / (time.perf_counter() - t)

    out["async_tasks_per_s"] = _median_of(repeat, async_rate)
    out["sync_tasks_per_s"] = _median_of(repeat, sync_rate)
    out["actor_async_calls_per_s"] = _median_of(repeat, actor_async_rate)
    out["actor_sync_calls_per_s"] = _median_of(repeat, actor_sync_rate)
    parent.send(None)
    proc.join()
    out["task_100mb_arg_ms"] = _median_of(repeat, task_arg_ms)
    out["mapreduce_s"] = _median_of(repeat, mapreduce_s)
    pool.close()
    pool.join()
    return out


# ---------------------------------------------------------------------------
# Orchestration

METRICS = [  # name, unit, higher_is_better
    ("init_to_first_result_s", "s", False),
    ("async_tasks_per_s", "/s", True),
    ("sync_tasks_per_s", "/s", True),
    ("actor_async_calls_per_s", "/s", True),
    ("actor_sync_calls_per_s", "/s", True),
    ("small_put_get_per_s", "/s", True),
    ("put_100mb_gb_per_s", "GB/s", True),
    ("get_100mb_ms", "ms", False),
    ("task_100mb_arg_ms", "ms", False),
    ("mapreduce_s", "s", False),
]


def _attached(repeat, runs):
    """miniray with the driver attached to a node daemon (`miniray start
    --head`, 2 CPUs) instead of an embedded node."""
    import socket
    import tempfile
    temp_dir = tempfile.mkdtemp(prefix="miniray-bench-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    cli = [sys.executable, "-m", "miniray"]
    subprocess.run(cli + ["start", "--head", "--port", str(port), "--num-cpus", "2",
                          "--temp-dir", temp_dir], env=env, check=True, capture_output=True)
    try:
        os.environ["MINIRAY_ADDRESS"] = f"127.0.0.1:{port}"
        os.environ["MINIRAY_TEMP_DIR"] = temp_dir
        return _child(sys.executable, "miniray", repeat, runs)
    finally:
        del os.environ["MINIRAY_ADDRESS"], os.environ["MINIRAY_TEMP_DIR"]
        subprocess.run(cli + ["stop", "--temp-dir", temp_dir], env=env, capture_output=True)
        import shutil
        shutil.rmtree(temp_dir, ignore_errors=True)


def _child(python, impl, repeat, runs, own_path=False):
    """Runs one implementation `runs` times in fresh interpreters; medians.
    With `own_path`, the interpreter imports from its own site-packages (a
    venv with Ray, or with an older miniray wheel), not from this checkout."""
    results = []
    for _ in range(runs):
        cmd = [python, os.path.abspath(__file__), "--child", impl, "--repeat", str(repeat)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        if own_path or impl == "ray":
            env.pop("PYTHONPATH")
        if impl == "ray":
            env["RAY_USAGE_STATS_ENABLED"] = "0"
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            print(f"[{impl}] failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            return None
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def _fmt(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=5, help="runs per metric (median)")
    parser.add_argument("--runs", type=int, default=3,
                        help="fresh interpreters per implementation (median)")
    parser.add_argument("--ray-python", help="an interpreter where `import ray` works")
    parser.add_argument("--attached", action="store_true",
                        help="also run miniray with the driver attached to a node daemon "
                             "(`miniray start --head`), beside the embedded node")
    parser.add_argument("--baseline-python",
                        help="an interpreter with another miniray installed (say, the wheel "
                             "of an earlier commit), measured in the same run")
    args = parser.parse_args()

    if args.child:
        if args.child == "multiprocessing":
            result = run_multiprocessing(args.repeat)
        else:
            result = run_ray_like(args.child, args.repeat)
        print(json.dumps(result))
        return

    ray_python = args.ray_python
    if ray_python is None:
        try:
            import ray  # noqa: F401
            ray_python = sys.executable
        except ImportError:
            pass
    impls = {"miniray": _child(sys.executable, "miniray", args.repeat, args.runs),
             "multiprocessing": _child(sys.executable, "multiprocessing", args.repeat, args.runs)}
    if args.attached:
        impls["miniray attached"] = _attached(args.repeat, args.runs)
    if args.baseline_python:
        impls["miniray@baseline"] = _child(args.baseline_python, "miniray", args.repeat,
                                           args.runs, own_path=True)
    if ray_python:
        impls["ray"] = _child(ray_python, "ray", args.repeat, 1)
    mini = impls["miniray"]
    header = f"{'metric':<24}{'unit':>6}{'miniray':>12}"
    for name in impls:
        if name != "miniray":
            header += f"{name:>18}{'ratio':>8}"
    print(header)
    for metric, unit, higher in METRICS:
        line = f"{metric:<24}{unit:>6}{_fmt(mini and mini.get(metric)):>12}"
        for name, res in impls.items():
            if name == "miniray":
                continue
            base = res.get(metric) if res else None
            m = mini.get(metric) if mini else None
            ratio = "-"
            if base and m:
                ratio = f"{(m / base if higher else base / m):.1f}x"
            line += f"{_fmt(base):>18}{ratio:>8}"
        print(line)
    print(f"\n(median of {args.repeat} runs per metric, {args.runs} fresh interpreters "
          f"per implementation; ratio > 1 means miniray is faster)")


if __name__ == "__main__":
    main()
