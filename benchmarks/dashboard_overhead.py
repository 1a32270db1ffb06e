"""What the dashboard and /metrics cost while tasks run (issue: under 5%).

    bazel run //benchmarks:dashboard_overhead -- [--runs 5] [--tasks 10000]

Each run is a fresh driver process with include_dashboard=True and a
separate process polling /api/overview (what the page reads) and /metrics
(what Prometheus reads) every second, as a browser and a scraper would. The
driver times batches of `--tasks` no-op tasks (submitted at once, gathered
with one get()) in ABBA order with the poller running and stopped
(SIGSTOP): the ratio of the two medians is the cost of polling, free of the
noise between processes. Fresh drivers without the dashboard run in the
same invocation, alternating, for the absolute rates.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

DRIVER = textwrap.dedent("""
    import json, signal, subprocess, sys, time
    import miniray
    dashboard, tasks, pairs = sys.argv[1] == "1", int(sys.argv[2]), int(sys.argv[3])
    ctx = miniray.init(num_cpus=2, include_dashboard=dashboard, dashboard_port=0)

    @miniray.remote
    def noop():
        return None

    def batch():
        start = time.perf_counter()
        miniray.get([noop.remote() for _ in range(tasks)])
        return tasks / (time.perf_counter() - start)

    miniray.get([noop.remote() for _ in range(2000)])  # workers warm
    polled, quiet = [], []
    if dashboard:
        poller = subprocess.Popen([sys.executable, "-c", POLLER, ctx["dashboard_url"]])
        time.sleep(1.5)  # polling has begun
        for i in range(2 * pairs):
            active = (i % 4) in (0, 3)  # ABBA order: drift cancels out
            poller.send_signal(signal.SIGCONT if active else signal.SIGSTOP)
            (polled if active else quiet).append(batch())
        poller.kill()
        poller.wait()
    else:
        quiet = [batch() for _ in range(2 * pairs)]
    miniray.shutdown()
    print(json.dumps({"polled": polled, "quiet": quiet}))
""")

POLLER = textwrap.dedent("""
    import sys, time, urllib.request
    base, _, token = sys.argv[1].partition("/?token=")
    headers = {"Authorization": "Bearer " + token}
    while True:
        for path in ("/api/overview", "/metrics"):
            urllib.request.urlopen(urllib.request.Request(base + path, headers=headers)).read()
        time.sleep(1.0)
""")


def run_one(dashboard: bool, tasks: int, pairs: int) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    code = DRIVER.replace("POLLER", repr(POLLER))
    out = subprocess.run([sys.executable, "-c", code, "1" if dashboard else "0", str(tasks),
                          str(pairs)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--pairs", type=int, default=4, help="batches with and without polling")
    args = parser.parse_args()
    ratios, plain, with_dashboard = [], [], []
    for i in range(args.runs):
        order = (False, True) if i % 2 == 0 else (True, False)
        for dashboard in order:
            r = run_one(dashboard, args.tasks, args.pairs)
            if dashboard:
                polled, quiet = statistics.median(r["polled"]), statistics.median(r["quiet"])
                ratios.append(polled / quiet)
                with_dashboard.append(statistics.median(r["polled"] + r["quiet"]))
            else:
                plain.append(statistics.median(r["quiet"]))
        print(f"run {i + 1}: no dashboard {plain[-1]:,.0f} tasks/s; dashboard on: polled "
              f"{polled:,.0f}, not polled {quiet:,.0f} tasks/s (ratio {ratios[-1]:.3f})",
              flush=True)
    ratio = statistics.median(ratios)
    a, b = statistics.median(plain), statistics.median(with_dashboard)
    print(f"\n{args.tasks:,} no-op tasks per batch; medians of {args.runs} fresh driver runs "
          "per kind, this machine:")
    print(f"  polling /api/overview and /metrics every second, vs the same driver's batches "
          f"between polls: ratio {ratio:.3f} (cost {100 * (1 - ratio):+.1f}%; spread "
          f"{min(ratios):.3f}-{max(ratios):.3f})")
    print(f"  drivers with the dashboard {b:,.0f} tasks/s vs without {a:,.0f} tasks/s: ratio "
          f"{b / a:.3f} (between fresh processes: mostly this machine's noise)")


if __name__ == "__main__":
    main()
