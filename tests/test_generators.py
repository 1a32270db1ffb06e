"""Generator tasks and actor methods (as Ray's): ObjectRefGenerator yields
each item's ref as the task yields it; num_returns="dynamic"."""
import os
import time

import pytest

import miniray
from miniray.exceptions import WorkerCrashedError

from conftest import node_stats, wait_for


def test_items_arrive_while_the_task_still_runs(ray_shared, tmp_path):
    go_on = tmp_path / "go_on"

    @miniray.remote
    def produce():
        yield "first"
        while not go_on.exists():  # holds until the caller has seen "first"
            time.sleep(0.01)
        yield "second"

    gen = produce.remote()
    assert isinstance(gen, miniray.ObjectRefGenerator)
    first = next(gen)
    assert miniray.get(first, timeout=30) == "first"
    assert not miniray.wait([gen.completed()], timeout=0.2)[0]  # still running
    go_on.touch()
    assert [miniray.get(r) for r in gen] == ["second"]
    with pytest.raises(StopIteration):
        next(gen)


def test_an_exception_comes_after_the_items_already_yielded(ray_shared):
    @miniray.remote
    def produce(n):
        for i in range(n):
            if i == 3:
                raise ValueError("three is too many")
            yield i

    got = []
    with pytest.raises(ValueError, match="three is too many"):
        for ref in produce.remote(10):
            got.append(miniray.get(ref))
    assert got == [0, 1, 2]


def test_dynamic_returns_one_ref_to_all_the_items(ray_shared):
    @miniray.remote(num_returns="dynamic")
    def produce(n):
        for i in range(n):
            yield i * i

    ref = produce.remote(4)
    assert isinstance(ref, miniray.ObjectRef)
    items = miniray.get(ref)
    assert isinstance(items, miniray.DynamicObjectRefGenerator) and len(items) == 4
    assert [miniray.get(r) for r in items] == [0, 1, 4, 9]
    # A plain function with num_returns="streaming" is an error on the task.
    with pytest.raises(TypeError, match="not a generator"):
        for r in miniray.remote(lambda: 5).options(num_returns="streaming").remote():
            miniray.get(r)


def test_actor_methods_sync_and_async_generate(ray_shared):
    import asyncio

    @miniray.remote
    class Source:
        def count(self, n):
            for i in range(n):
                yield i

        async def count_slowly(self, n):
            for i in range(n):
                await asyncio.sleep(0.01)
                yield i * 10

    s = Source.remote()
    assert [miniray.get(r) for r in s.count.remote(3)] == [0, 1, 2]
    assert [miniray.get(r) for r in s.count_slowly.remote(3)] == [0, 10, 20]

    async def consume():
        return [await r async for r in s.count.remote(2)]
    assert asyncio.run(consume()) == [0, 1]


def test_wait_takes_generators(ray_shared, tmp_path):
    release = tmp_path / "release"

    @miniray.remote
    def slow():
        while not release.exists():
            time.sleep(0.01)
        yield 1

    @miniray.remote
    def fast():
        yield 2

    slow_gen, fast_gen = slow.remote(), fast.remote()
    ready, not_ready = miniray.wait([slow_gen, fast_gen], num_returns=1, timeout=10)
    assert ready == [fast_gen] and not_ready == [slow_gen]
    assert miniray.get(next(fast_gen)) == 2
    release.touch()
    assert miniray.get(next(slow_gen)) == 1


def test_items_are_freed_with_the_generator_and_a_dead_worker_is_reported(ray_shared):
    @miniray.remote
    def many(n):
        for i in range(n):
            yield b"x" * 200_000  # in shared memory

    before = node_stats()["num_objects"]
    gen = many.remote(20)
    assert sum(len(miniray.get(r)) for r in gen) == 20 * 200_000
    del gen
    assert wait_for(lambda: node_stats()["num_objects"] <= before), (
        node_stats()["num_objects"], before)

    @miniray.remote(max_retries=0)
    def dies_midway():
        yield 1
        os._exit(3)

    gen = dies_midway.remote()
    assert miniray.get(next(gen)) == 1
    with pytest.raises(WorkerCrashedError):
        miniray.get(next(gen), timeout=30)
    with pytest.raises(StopIteration):
        next(gen)
