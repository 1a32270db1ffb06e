"""miniray.util: ActorPool and inspect_serializability; serialization errors."""
import threading
import time

import pytest

import miniray
from miniray.util import ActorPool, inspect_serializability


@miniray.remote
class Doubler:
    def double(self, x):
        time.sleep(0.01 * (x % 3))
        return 2 * x


def test_actor_pool_map_keeps_order(ray_shared):
    pool = ActorPool([Doubler.remote() for _ in range(2)])
    assert list(pool.map(lambda a, v: a.double.remote(v), range(10))) == [2 * v for v in range(10)]


def test_actor_pool_map_unordered_and_submit(ray_shared):
    actors = [Doubler.remote() for _ in range(3)]
    pool = ActorPool(actors)
    assert sorted(pool.map_unordered(lambda a, v: a.double.remote(v), range(7))) == \
        [2 * v for v in range(7)]
    for v in range(5):
        pool.submit(lambda a, x: a.double.remote(x), v)
    assert not pool.has_free()
    assert [pool.get_next() for _ in range(5)] == [0, 2, 4, 6, 8]
    assert not pool.has_next()
    with pytest.raises(StopIteration):
        pool.get_next()
    idle = pool.pop_idle()
    assert idle in actors
    with pytest.raises(ValueError, match="already belongs"):
        pool.push(next(a for a in actors if a != idle))
    pool.push(idle)
    assert pool.has_free()


def test_inspect_serializability_names_the_culprit():
    lock = threading.Lock()

    def uses_lock():
        return lock

    ok, bad = inspect_serializability(uses_lock, name="uses_lock")
    assert (ok, bad) == (False, {"lock"})
    assert inspect_serializability({"x": [1, 2]}) == (True, set())
    # Inside containers and attributes, the path to the culprit.
    holder = type("Holder", (), {})()
    holder.parts = {"k": [1, lock]}
    assert inspect_serializability(holder, "h") == (False, {"h.parts['k'][1]"})


_global_lock = threading.Lock()


def test_serialization_errors_name_the_function_and_what_it_captures(ray_shared):
    def uses_global():
        with _global_lock:
            return 1

    local_lock = threading.Lock()

    def uses_closure():
        return local_lock

    with pytest.raises(TypeError, match=r"remote function '.*uses_global'.*"
                                        r"captures the variable '_global_lock'"):
        miniray.remote(uses_global).remote()
    with pytest.raises(TypeError, match=r"remote function '.*uses_closure'.*"
                                        r"captures the variable 'local_lock'"):
        miniray.remote(uses_closure).remote()

    class Holder:
        def get(self):
            return _global_lock

    with pytest.raises(TypeError, match=r"actor class '.*Holder'.*'_global_lock'"):
        miniray.remote(Holder).remote()

    def takes(a, b=None):
        return a

    f = miniray.remote(takes)
    with pytest.raises(TypeError, match=r"argument args\[0\] of 'takes'.*cannot pickle"):
        f.remote(local_lock)
    with pytest.raises(TypeError, match=r"argument b of 'takes'.*because of b\['k'\]\[1\]"):
        f.remote(1, b={"k": [0, local_lock]})
    assert miniray.get(f.remote(5)) == 5  # nothing broken for the next call


def test_queue_between_tasks(ray_shared):
    from miniray.util.queue import Empty, Full, Queue

    q = Queue(maxsize=3)

    @miniray.remote
    def producer(q, n):
        for i in range(n):
            q.put(i)
        return "produced"

    @miniray.remote
    def consumer(q, n):
        return [q.get(timeout=10) for _ in range(n)]

    items = consumer.remote(q, 10)
    assert miniray.get(producer.remote(q, 10)) == "produced"
    assert miniray.get(items) == list(range(10))
    assert q.empty() and q.qsize() == 0
    with pytest.raises(Empty):
        q.get(block=False)
    with pytest.raises(Empty):
        q.get(timeout=0.1)
    q.put_nowait_batch([1, 2, 3])
    assert q.full()
    with pytest.raises(Full):
        q.put("x", timeout=0.1)
    with pytest.raises(Full):
        q.put_nowait_batch([4])
    assert q.get_nowait_batch(2) == [1, 2] and q.get_nowait() == 3
    q.shutdown()


class _NotPicklable:
    def __init__(self, value):
        self.value = value
        self.lock = threading.Lock()  # what makes pickle refuse it


def test_register_serializer_makes_a_class_travel(ray_shared):
    from miniray.util import deregister_serializer, register_serializer

    @miniray.remote
    def value_of(obj):
        return obj.value, type(obj).__name__

    with pytest.raises(TypeError, match="cannot pickle"):
        miniray.put(_NotPicklable(1))
    register_serializer(_NotPicklable, serializer=lambda o: o.value,
                        deserializer=lambda v: _NotPicklable(v))
    try:
        assert miniray.get(value_of.remote(_NotPicklable(42))) == (42, "_NotPicklable")
        assert miniray.get(miniray.put(_NotPicklable(7))).value == 7
    finally:
        deregister_serializer(_NotPicklable)
    with pytest.raises(TypeError, match="cannot pickle"):
        miniray.put(_NotPicklable(1))
    with pytest.raises(TypeError):
        register_serializer("not a class", serializer=str, deserializer=str)
