"""Scheduling behaviour: resources, concurrency, nesting, pending tasks."""
import time

import pytest

import miniray


def test_at_most_n_concurrent_single_cpu_tasks(ray_start):
    @miniray.remote(num_cpus=1)
    def span():
        start = time.time()
        time.sleep(0.3)
        return start, time.time()

    spans = miniray.get([span.remote() for _ in range(6)])
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2  # both CPUs used, never more


def test_num_cpus_2_task_runs_alone(ray_start):
    @miniray.remote(num_cpus=2)
    def wide():
        start = time.time()
        time.sleep(0.2)
        return start, time.time()

    spans = sorted(miniray.get([wide.remote() for _ in range(3)]))
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert s2 >= e1 - 0.01


def test_nested_tasks_three_levels_do_not_deadlock(ray_start):
    @miniray.remote(num_cpus=1)
    def leaf(x):
        return x * 2

    @miniray.remote(num_cpus=1)
    def middle(x):
        return sum(miniray.get([leaf.remote(x), leaf.remote(x + 1)]))

    @miniray.remote(num_cpus=1)
    def top(x):
        return sum(miniray.get([middle.remote(x), middle.remote(x + 10)]))

    # 4 top-level tasks on 2 CPUs: every level blocks in get().
    results = miniray.get([top.remote(i) for i in range(4)], timeout=60)
    expected = [2 * (i + i + 1) + 2 * (i + 10 + i + 11) for i in range(4)]
    assert results == expected


def test_a_deep_tree_of_nested_tasks_finishes(ray_start):
    """Ray's "tree of tasks" pattern at depth: a recursive quicksort of 4
    million items, split until 200,000, each level waiting for its two
    children. Every waiting parent blocks a worker in get(); more inner
    nodes than the worker cap (8 x num_cpus) must not leave the leaves
    without a worker."""
    import random

    @miniray.remote
    def quick_sort(items):
        if len(items) <= 200_000:
            return sorted(items)
        pivot = items[0]
        lesser = quick_sort.remote([x for x in items[1:] if x < pivot])
        greater = quick_sort.remote([x for x in items[1:] if x >= pivot])
        return miniray.get(lesser) + [pivot] + miniray.get(greater)

    rng = random.Random(7)
    items = [rng.random() for _ in range(4_000_000)]
    result = miniray.get(quick_sort.remote(items), timeout=600)
    assert len(result) == len(items)
    assert result == sorted(items)


def test_infeasible_task_stays_pending_with_a_warning(ray_start, capfd):
    @miniray.remote(resources={"TPU": 1})
    def needs_tpu():
        return 1

    r = needs_tpu.remote()
    ready, not_ready = miniray.wait([r], timeout=0.5)
    assert ready == [] and not_ready == [r]
    err = capfd.readouterr().err
    assert "TPU" in err and "pending" in err
    # Other work still runs.
    assert miniray.get(miniray.remote(lambda: 5).remote()) == 5


def test_custom_and_fractional_resources(ray_start):
    miniray.shutdown()
    miniray.init(num_cpus=2, resources={"disk": 1})

    @miniray.remote(num_cpus=0.5, resources={"disk": 0.5})
    def half():
        start = time.time()
        time.sleep(0.5)
        return start, time.time()

    (s1, e1), (s2, e2) = sorted(miniray.get([half.remote() for _ in range(2)]))
    assert s2 < e1  # two halves of one "disk" ran together
    assert miniray.cluster_resources()["disk"] == 1.0


def test_extra_workers_are_stopped_once_idle(ray_start):
    from conftest import node_stats, wait_for

    @miniray.remote
    def leaf():
        return 1

    @miniray.remote
    def parent():
        return miniray.get(leaf.remote())

    # Both CPUs' workers block in get(): extra workers start for the leaves.
    assert miniray.get([parent.remote() for _ in range(4)]) == [1] * 4
    assert node_stats()["num_workers"] > 2
    assert wait_for(lambda: node_stats()["num_workers"] == 2, timeout=10)
    assert miniray.get(parent.remote()) == 1


def test_priorities_order_ready_tasks_and_actor_calls(no_runtime, tmp_path):
    """A miniray extension (the design document's task priorities): among
    ready tasks that fit, higher priority first; FIFO within a priority."""
    miniray.init(num_cpus=1)
    from conftest import wait_for

    @miniray.remote
    def stamp(name, hold=0.0):
        (tmp_path / name).touch()
        time.sleep(hold)
        return name, time.monotonic()

    blocker = stamp.remote("blocker", 0.5)  # holds the only CPU meanwhile
    assert wait_for(lambda: (tmp_path / "blocker").exists())
    refs = [stamp.options(priority=p).remote(f"{name}") for name, p in
            [("low1", 0), ("high1", 5), ("low2", 0), ("high2", 5), ("urgent", 9)]]
    ran = [name for name, _ in sorted(miniray.get([blocker] + refs), key=lambda r: r[1])]
    assert ran == ["blocker", "urgent", "high1", "high2", "low1", "low2"]

    @miniray.remote
    class Server:
        def handle(self, name, hold=0.0):
            (tmp_path / name).touch()
            time.sleep(hold)
            return name, time.monotonic()

    server = Server.remote()
    first = server.handle.remote("first", 0.5)
    assert wait_for(lambda: (tmp_path / "first").exists())  # it runs: the rest wait
    calls = [server.handle.options(priority=p).remote(name) for name, p in
             [("low1", 0), ("low2", 0), ("high", 3)]]
    ran = [name for name, _ in sorted(miniray.get([first] + calls), key=lambda r: r[1])]
    assert ran == ["first", "high", "low1", "low2"]

    with pytest.raises(TypeError, match="priority must be an integer"):
        stamp.options(priority="high")
    with pytest.raises(TypeError, match="priority must be an integer"):
        stamp.options(priority=1.5)
