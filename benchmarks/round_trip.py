"""Where the time of one task goes: a sync round trip cut into segments.

    bazel run //benchmarks:round_trip -- [--tasks 2000]
    python benchmarks/round_trip.py      (from a venv with the wheel)

The driver submits a no-op task and waits for it, `--tasks` times, with
one worker (num_cpus=1), noting its own wall-clock times; the node's task
events (util/state) add when the node accepted the task, handed it to the
worker, and when the worker's CoreWorker gave it to Python and got its
result back. All processes read the same clock. Segments (medians, in
microseconds):

    driver submit     .remote() from call to return (Python + C++ submit)
    node queue        accepted -> handed to the worker (scheduling)
    to worker         handed -> the worker's CoreWorker returns it from
                      next_task (serialize, socket, wake-up of the worker)
    in worker         next_task -> task_done (Python: decode, run, encode)
    back to driver    task_done -> the driver's get() returns (socket, the
                      node storing the return, wake-up of the driver, decode)

and an async batch: the same tasks submitted at once, then one get(); and,
in the same run, the floor: a round trip between two Python processes over
a Unix socket pair (what the OS allows; a task needs two of them: driver to
worker and back, through the node).
"""
import argparse
import statistics
import time


def _echo(sock, other) -> None:
    other.close()  # the parent's end: its close then ends this loop
    while True:
        data = sock.recv(64)
        if not data:
            return
        sock.send(data)


def socket_floor(n: int = 20000) -> float:
    """Median microseconds of a 1-byte round trip to another process."""
    import multiprocessing
    import socket
    a, b = socket.socketpair()
    p = multiprocessing.get_context("fork").Process(target=_echo, args=(b, a))
    p.start()
    b.close()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        a.send(b"x")
        a.recv(64)
        times.append(time.perf_counter() - t)
    a.close()
    p.join()
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    args = parser.parse_args()
    import miniray
    from miniray.util import state

    miniray.init(num_cpus=1)

    @miniray.remote
    def noop():
        return None

    miniray.get([noop.remote() for _ in range(500)])  # warm
    marks = {}
    for _ in range(args.tasks):
        t0 = time.time()
        ref = noop.remote()
        t1 = time.time()
        miniray.get(ref)
        t2 = time.time()
        marks[ref.task_id().hex()] = (t0, t1, t2)
    rows = {t["task_id"]: t for t in state.api._task_rows(
        state.api._state(state.api._source(), tasks=True, limit=args.tasks + 10))}
    seg = {k: [] for k in ("driver submit", "node queue", "to worker", "in worker",
                           "back to driver", "total")}
    for task_id, (t0, t1, t2) in marks.items():
        r = rows.get(task_id)
        if not r or not r["_start_us"]:
            continue
        accepted, handed, start, end = (r["_creation_us"], r["_scheduled_us"], r["_start_us"],
                                        r["_end_us"])
        seg["driver submit"].append((t1 - t0) * 1e6)
        seg["node queue"].append(handed - accepted)
        seg["to worker"].append(start - handed)
        seg["in worker"].append(end - start)
        seg["back to driver"].append(t2 * 1e6 - end)
        seg["total"].append((t2 - t0) * 1e6)
    print(f"sync round trip of a no-op task, medians of {len(seg['total'])} (microseconds):")
    for name, values in seg.items():
        print(f"  {name:16s} {statistics.median(values):8.1f}   "
              f"(p10 {statistics.quantiles(values, n=10)[0]:.1f}, "
              f"p90 {statistics.quantiles(values, n=10)[-1]:.1f})")
    print(f"  = {1e6 / statistics.median(seg['total']):,.0f} sync tasks/s")

    n = 10_000
    t0 = time.perf_counter()
    refs = [noop.remote() for _ in range(n)]
    t1 = time.perf_counter()
    miniray.get(refs)
    t2 = time.perf_counter()
    print(f"async batch of {n:,}: submit {(t1 - t0) / n * 1e6:.1f} us/task "
          f"({n / (t1 - t0):,.0f}/s), all done {(t2 - t0) / n * 1e6:.1f} us/task "
          f"({n / (t2 - t0):,.0f}/s)")
    miniray.shutdown()
    print(f"floor: a Unix-socket round trip between two Python processes "
          f"{socket_floor():.1f} us (median)")


if __name__ == "__main__":
    main()
