"""Soak test: one million small tasks and 10 GB of objects through a 1 GiB
store, in batches. After each batch it prints the task rate and the memory
of the driver, of the workers and of the store: all should stay flat. The
objects are 50 MB arrays, each summed by a task; the last 1.5 GiB of them
stay referenced, so the store spills and restores all along.

    bazel run //benchmarks:soak
    python benchmarks/soak.py [--tasks 1000000] [--gigabytes 10] [--batches 20]
"""
import argparse
import collections
import os
import time

import numpy as np

import miniray


def private_mb(pid: int) -> float:
    """Resident memory of the process's own (RssAnon): not the shared arena
    pages it maps, which every process counts again (RssShmem)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def worker_pids():
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if ppid == me and b"worker_main" in cmd:
            pids.append(int(entry))
    return pids


@miniray.remote
def noop(i):
    return i


@miniray.remote
def total(array):
    return float(array.sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--gigabytes", type=float, default=10)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--store-gib", type=float, default=1)
    args = parser.parse_args()

    miniray.init(num_cpus=2, object_store_memory=int(args.store_gib * (1 << 30)))
    from miniray._private.worker import global_worker
    node = global_worker.node
    tasks_per_batch = args.tasks // args.batches
    array = np.ones(50 << 20, dtype=np.uint8)  # 50 MB
    arrays_per_batch = max(1, int(args.gigabytes * 1e9 / args.batches / array.nbytes))
    print(f"{args.tasks:,} tasks and {args.gigabytes:g} GB of objects through a "
          f"{args.store_gib:g} GiB store, in {args.batches} batches")
    print("(driver and workers: private resident memory; the shared store is counted once)")
    print(f"{'batch':>5} {'tasks/s':>9} {'GB/s':>6} {'driver MB':>10} {'workers MB':>11} "
          f"{'store MB':>9} {'objects':>8} {'spilled':>8}")
    rates = []
    window = collections.deque(maxlen=int(1.5 * args.store_gib * (1 << 30) // array.nbytes))
    for batch in range(1, args.batches + 1):
        t = time.perf_counter()
        chunk = 10_000
        for start in range(0, tasks_per_batch, chunk):
            n = min(chunk, tasks_per_batch - start)
            assert miniray.get([noop.remote(i) for i in range(n)])[-1] == n - 1
        task_rate = tasks_per_batch / (time.perf_counter() - t)
        t = time.perf_counter()
        for k in range(arrays_per_batch):
            ref = miniray.put(array)
            window.append(ref)  # older ones are dropped, or spilled while kept
            assert miniray.get(total.remote(ref)) == float(array.nbytes)
            if k % 5 == 0:  # now and then read back one that was spilled
                assert miniray.get(total.remote(window[0])) == float(array.nbytes)
            del ref
        gb_rate = arrays_per_batch * array.nbytes / 1e9 / (time.perf_counter() - t)
        rates.append(task_rate)
        stats = node.stats()
        workers = sum(private_mb(p) for p in worker_pids())
        print(f"{batch:>5} {task_rate:>9,.0f} {gb_rate:>6.2f} {private_mb(os.getpid()):>10.0f} "
              f"{workers:>11.0f} {stats['store_used'] / 2**20:>9.1f} {stats['num_objects']:>8} "
              f"{stats['num_spilled']:>8}", flush=True)
    rates.sort()
    print(f"median task rate {rates[len(rates) // 2]:,.0f}/s")
    miniray.shutdown()


if __name__ == "__main__":
    main()
