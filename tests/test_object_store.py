"""The standalone shared-memory store exposed by _miniray_core (issue 2)."""
import gc

import numpy as np
import pytest

import _miniray_core
from miniray.exceptions import ObjectStoreFullError


def test_put_get_roundtrip_acceptance():
    store = _miniray_core.ObjectStore()
    ref = store.put(b"hello")
    data = store.get(ref)
    assert data == b"hello"
    assert bytes(data) == b"hello"
    assert data.readonly


def test_large_get_is_zero_copy_numpy_view():
    store = _miniray_core.ObjectStore(64 << 20)
    arr = np.arange(4_000_000, dtype=np.int64)
    ref = store.put(arr)
    buf = store.get(ref)
    view = np.frombuffer(buf, dtype=np.int64)
    # The array's memory is the buffer's memory: no copy was made.
    assert view.__array_interface__["data"][0] == buf.address()
    assert not view.flags.writeable
    np.testing.assert_array_equal(view, arr)
    with pytest.raises(ValueError):
        view[0] = 1


def test_view_keeps_object_pinned_after_delete():
    store = _miniray_core.ObjectStore(16 << 20)
    ref = store.put(np.full(1 << 20, 7, dtype=np.uint8))
    view = np.frombuffer(store.get(ref), dtype=np.uint8)  # the Buffer lives in view.base
    store.delete(ref)
    assert not store.contains(ref)
    # Memory stays reserved (and intact) while the numpy view lives.
    assert store.used >= 1 << 20
    assert view[12345] == 7
    del view
    gc.collect()
    assert store.used == 0


def test_full_store_raises_and_keeps_existing_objects():
    store = _miniray_core.ObjectStore(1 << 20)
    kept = store.put(b"x" * 600_000)
    with pytest.raises(ObjectStoreFullError, match="object store is full"):
        store.put(b"y" * 600_000)
    assert store.get(kept) == b"x" * 600_000


def test_unknown_id_is_an_error():
    store = _miniray_core.ObjectStore(1 << 20)
    with pytest.raises(KeyError):
        store.get(_miniray_core.ObjectID.from_random())
    with pytest.raises(ValueError, match="20 bytes"):
        _miniray_core.ObjectID(b"short")
