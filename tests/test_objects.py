"""Objects: zero-copy numpy, reference counting, store capacity."""
import gc

import numpy as np
import pytest

import miniray
from miniray.exceptions import ObjectStoreFullError

from conftest import node_stats, wait_for


def test_large_array_from_task_is_read_only_zero_copy(ray_start):
    @miniray.remote
    def make():
        return np.ones(25_000_000, dtype=np.float64)  # 200 MB

    arr = miniray.get(make.remote())
    assert arr.shape == (25_000_000,) and arr[-1] == 1.0
    assert not arr.flags.writeable and not arr.flags.owndata
    with pytest.raises(ValueError):
        arr[0] = 2.0
    # The array's memory is the shared-memory arena itself: no copy was made.
    start, end = _arena_range()
    address = arr.__array_interface__["data"][0]
    assert start <= address and address + arr.nbytes <= end


def _arena_range():
    """Where this process maps the node's memfd arena."""
    with open("/proc/self/maps") as f:
        for line in f:
            if "miniray_object_store" in line:
                lo, hi = line.split()[0].split("-")
                return int(lo, 16), int(hi, 16)
    raise AssertionError("the arena is not mapped")


def test_get_twice_shares_memory(ray_start):
    ref = miniray.put(np.arange(1_000_000))
    a, b = miniray.get(ref), miniray.get(ref)
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    np.testing.assert_array_equal(a, np.arange(1_000_000))


def test_numpy_array_passed_to_task_without_copy(ray_start):
    @miniray.remote
    def total(x):
        return float(x.sum()), x.flags.writeable

    data = np.ones(10_000_000, dtype=np.float32)
    assert miniray.get(total.remote(data)) == (1e7, False)
    ref = miniray.put(data)
    assert miniray.get(total.remote(ref)) == (1e7, False)


def test_objects_are_freed_when_refs_are_dropped(ray_start):
    @miniray.remote
    def make(n):
        return np.zeros(n, dtype=np.uint8)

    @miniray.remote
    def length(x):
        return len(x)

    refs = [make.remote(1 << 20) for _ in range(5)] + [miniray.put(np.ones(1 << 20))]
    assert miniray.get(length.remote(refs[0])) == 1 << 20
    held = miniray.get(refs[1])
    assert node_stats()["store_used"] > 0
    del refs
    # `held` still maps one object: it stays until the view is gone.
    assert wait_for(lambda: node_stats()["num_store_objects"] == 1)
    del held
    assert wait_for(lambda: node_stats()["store_used"] == 0 and node_stats()["num_objects"] == 0)


def test_nested_ref_keeps_inner_object_alive(ray_start):
    inner = miniray.put(np.arange(200_000))
    outer = miniray.put([inner])
    del inner
    gc.collect()
    got = miniray.get(miniray.get(outer)[0])
    assert got[-1] == 199_999
    del outer, got
    assert wait_for(lambda: node_stats()["num_objects"] == 0)


def test_store_full_raises_and_keeps_stored_objects(no_runtime):
    miniray.init(num_cpus=1, object_store_memory=32 << 20)
    try:
        kept = miniray.put(np.full(3_000_000, 5, dtype=np.int64))  # 24 MB
        view = miniray.get(kept)  # mapped by us: it can be neither moved nor spilled
        with pytest.raises(ObjectStoreFullError, match="object store is full"):
            miniray.put(np.zeros(2_000_000, dtype=np.int64))  # 16 MB more
        assert view[123] == 5 and miniray.get(kept)[-1] == 5
        with pytest.raises(ObjectStoreFullError):
            miniray.put(np.zeros(5_000_000, dtype=np.int64))  # larger than the store
        del kept, view
        assert wait_for(lambda: node_stats()["store_used"] == 0)
        assert miniray.get(miniray.put(np.zeros(2_000_000)))[0] == 0
    finally:
        miniray.shutdown()


def test_objects_spill_to_disk_when_the_store_is_full(no_runtime):
    miniray.init(num_cpus=1, object_store_memory=32 << 20)
    try:
        refs = [miniray.put(np.full(3_000_000, i, dtype=np.int64)) for i in range(4)]  # 96 MB
        assert node_stats()["num_spilled"] >= 2
        for i, ref in enumerate(refs):  # each comes back from disk on get
            arr = miniray.get(ref)
            assert arr[0] == i and arr[-1] == i
            del arr

        @miniray.remote
        def total(a):
            return int(a.sum())

        assert miniray.get([total.remote(r) for r in refs]) == [3_000_000 * i for i in range(4)]
        del refs, ref
        assert wait_for(lambda: node_stats()["num_objects"] == 0 and
                        node_stats()["num_spilled"] == 0)
    finally:
        miniray.shutdown()


def test_every_numpy_argument_and_value_is_read_only(ray_start):
    """As Ray: small arrays (inlined in the message) as well as large ones
    (in shared memory) arrive read-only, in tasks and from get()."""
    @miniray.remote
    def try_to_write(a):
        try:
            a[0] = 1
        except ValueError as e:
            return str(e)
        return "written"

    for size in (10, 1_000, 1_000_000):
        array = np.zeros(size)
        assert "read-only" in miniray.get(try_to_write.remote(array))
        assert not miniray.get(miniray.put(array)).flags.writeable
        assert array[0] == 0 and array.flags.writeable  # the caller's own is untouched


def test_wait_on_nothing_and_get_of_a_non_ref_behave_as_in_ray(ray_start):
    assert miniray.wait([]) == ([], [])
    with pytest.raises(ValueError, match="must either be an ObjectRef or a list"):
        miniray.get(3)
    with pytest.raises(TypeError):
        miniray.wait(3)
