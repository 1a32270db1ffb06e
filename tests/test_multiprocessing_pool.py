"""miniray.util.multiprocessing.Pool: multiprocessing.Pool's interface."""
import os
import time

import pytest

import miniray
from miniray.util.multiprocessing import Pool, TimeoutError


def square(x):
    return x * x


def add(a, b):
    return a + b


def fail_on_three(x):
    if x == 3:
        raise ValueError("three")
    return x


def test_map_starmap_apply_and_imap(ray_shared):
    with Pool(processes=2) as pool:
        assert pool.map(square, range(10)) == [x * x for x in range(10)]
        assert pool.map(square, range(7), chunksize=3) == [x * x for x in range(7)]
        assert pool.starmap(add, [(1, 2), (3, 4)]) == [3, 7]
        assert pool.apply(add, (1, 2)) == 3
        assert pool.apply(add, (1,), {"b": 5}) == 6
        assert list(pool.imap(square, range(5))) == [0, 1, 4, 9, 16]
        assert sorted(pool.imap_unordered(square, range(5))) == [0, 1, 4, 9, 16]


def test_processes_bound_the_concurrency_and_initializer_runs_in_each(ray_shared):
    def slow_pid(_):
        time.sleep(0.2)
        return os.getpid(), os.environ.get("POOL_INIT")

    def init(value):
        os.environ["POOL_INIT"] = value

    with Pool(processes=2, initializer=init, initargs=("done",)) as pool:
        start = time.monotonic()
        results = pool.map(slow_pid, range(4), chunksize=1)
        elapsed = time.monotonic() - start
    assert {flag for _, flag in results} == {"done"}
    assert len({pid for pid, _ in results}) == 2
    assert 0.35 < elapsed < 5  # two at a time: at least two rounds


def test_async_results_callbacks_and_errors(ray_shared):
    got = []
    with Pool(processes=2) as pool:
        result = pool.map_async(square, [1, 2, 3], callback=got.append)
        assert result.get(timeout=30) == [1, 4, 9]
        result.wait(5)
        assert result.ready() and result.successful()
        assert got == [[1, 4, 9]]
        failing = pool.map_async(fail_on_three, range(5))
        with pytest.raises(ValueError, match="three"):
            failing.get(timeout=30)
        assert not failing.successful()
        slow = pool.apply_async(time.sleep, (2,))
        with pytest.raises(TimeoutError):
            slow.get(timeout=0.1)


def test_close_join_and_a_closed_pool(ray_shared):
    pool = Pool(processes=1)
    pending = pool.map_async(square, range(3))
    pool.close()
    with pytest.raises(ValueError, match="Pool not running"):
        pool.map(square, [1])
    pool.join()
    assert pending.get(timeout=30) == [0, 1, 4]
    with pytest.raises(ValueError):
        Pool(processes=0)
