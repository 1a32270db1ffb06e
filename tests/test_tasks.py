"""Remote functions end to end (issue 3): submission, arguments, returns,
options, get/put/wait semantics."""
import time

import pytest

import miniray
from miniray.exceptions import GetTimeoutError


@miniray.remote
def add(a, b):
    return a + b


@miniray.remote
def echo(*args, **kwargs):
    return args, kwargs


def test_design_acceptance(ray_shared):
    assert miniray.get(add.remote(1, 2)) == 3
    refs = [add.remote(i, i) for i in range(100)]
    assert sum(miniray.get(refs)) == sum(2 * i for i in range(100))
    ready, not_ready = miniray.wait(refs, num_returns=100, timeout=10)
    assert len(ready) == 100 and not not_ready


def test_design_acceptance_with_num_workers(no_runtime):
    miniray.init(num_workers=2)
    assert miniray.cluster_resources()["CPU"] == 2.0
    assert miniray.get(add.remote(1, 2)) == 3
    assert sum(miniray.get([add.remote(i, i) for i in range(100)])) == 9900


def test_args_kwargs_and_defaults(ray_shared):
    @miniray.remote
    def f(a, b=10, *rest, c, d=4, **more):
        return a, b, rest, c, d, more

    assert miniray.get(f.remote(1, c=3)) == (1, 10, (), 3, 4, {})
    assert miniray.get(f.remote(1, 2, 5, 6, c=3, d=0, z=9)) == (1, 2, (5, 6), 3, 0, {"z": 9})


def test_objectref_args_are_resolved_nested_refs_are_not(ray_shared):
    x = miniray.put(41)
    assert miniray.get(add.remote(x, 1)) == 42
    assert miniray.get(add.remote(a=x, b=x)) == 82

    @miniray.remote
    def inspect(container):
        inner = container[0]
        return isinstance(inner, miniray.ObjectRef), miniray.get(inner)

    assert miniray.get(inspect.remote([x])) == (True, 41)


def test_task_output_feeds_next_task(ray_shared):
    r = add.remote(1, 1)
    for _ in range(10):
        r = add.remote(r, 1)
    assert miniray.get(r) == 12


def test_num_returns(ray_shared):
    @miniray.remote(num_returns=3)
    def three():
        return 1, 2, 3

    a, b, c = three.remote()
    assert miniray.get([c, a, b]) == [3, 1, 2]
    two = three.options(num_returns=2)

    @miniray.remote(num_returns=2)
    def pair():
        return "x", "y"

    assert miniray.get(pair.remote()) == ["x", "y"]
    assert two is not None

    @miniray.remote(num_returns=0)
    def nothing():
        return None

    assert nothing.remote() is None


def test_wrong_number_of_returns_is_an_error(ray_shared):
    @miniray.remote(num_returns=2)
    def one():
        return 1, 2, 3

    a, b = one.remote()
    with pytest.raises(ValueError, match="num_returns=2"):
        miniray.get(a)


def test_direct_call_and_bad_arguments_raise_type_error(ray_shared):
    with pytest.raises(TypeError, match=r"add\.remote\(\)"):
        add(1, 2)
    with pytest.raises(TypeError, match="missing a required argument"):
        add.remote(1)
    with pytest.raises(TypeError):
        add.remote(1, 2, 3)
    # Shapes that bound once are not checked again; others still are.
    assert miniray.get(add.remote(1, 2)) == 3
    assert miniray.get(add.remote(1, b=2)) == 3
    with pytest.raises(TypeError, match="multiple values"):
        add.remote(1, a=2)
    with pytest.raises(TypeError, match=r"add\(\) missing a required argument: 'b'"):
        add.remote(1, c=2)
    with pytest.raises(TypeError, match="Could not serialize"):
        import threading
        add.remote(threading.Lock(), 1)
    with pytest.raises(ValueError, match="Invalid option keyword"):
        add.options(num_cpu=1)
    with pytest.raises(TypeError, match="num_cpus"):
        add.options(num_cpus="two")
    with pytest.raises(ValueError, match="num_gpus"):
        add.options(resources={"GPU": 1})
    with pytest.raises(TypeError, match="num_returns must be an integer"):
        add.options(num_returns="many")


def test_get_list_keeps_order_and_duplicates(ray_shared):
    a, b = miniray.put("a"), miniray.put("b")
    assert miniray.get([b, a, b, a]) == ["b", "a", "b", "a"]
    assert miniray.get([]) == []
    with pytest.raises(ValueError):  # as Ray
        miniray.get("not a ref")
    with pytest.raises(TypeError):
        miniray.get([a, 3])


def test_wait_keeps_input_order(ray_shared):
    @miniray.remote
    def sleepy(t):
        time.sleep(t)
        return t

    slow = sleepy.remote(1.0)
    fast = [sleepy.remote(0), sleepy.remote(0)]
    miniray.get(fast)
    ready, not_ready = miniray.wait([slow] + fast, num_returns=2, timeout=5)
    assert ready == fast and not_ready == [slow]
    ready, not_ready = miniray.wait([slow] + fast, num_returns=3, timeout=0.1)
    assert ready == fast and not_ready == [slow]
    ready, not_ready = miniray.wait([fast[1], fast[0]], num_returns=1)
    assert ready == [fast[1]] and not_ready == [fast[0]]
    with pytest.raises(ValueError):
        miniray.wait([slow], num_returns=2)


def test_get_timeout_raises_get_timeout_error(ray_shared):
    @miniray.remote
    def slow():
        time.sleep(2)
        return 1

    r = slow.remote()
    t = time.time()
    with pytest.raises(GetTimeoutError):
        miniray.get(r, timeout=0.2)
    assert time.time() - t < 1.5
    assert issubclass(GetTimeoutError, TimeoutError)
    assert miniray.get(r, timeout=10) == 1


def test_put_rejects_objectref_and_unpicklable(ray_shared):
    r = miniray.put(1)
    with pytest.raises(TypeError, match="ObjectRef"):
        miniray.put(r)
    with pytest.raises(TypeError, match="Could not serialize"):
        import threading
        miniray.put(threading.Lock())
    assert miniray.get(r) == 1


def test_objectref_is_hashable_picklable_and_has_hex(ray_shared):
    import pickle
    r = miniray.put(5)
    assert len(r.hex()) == 40
    assert {r: 1}[r] == 1
    r2 = pickle.loads(pickle.dumps(r))
    assert r2 == r and miniray.get(r2) == 5
    assert "ObjectRef(" in repr(r)


def test_ten_thousand_noop_tasks(ray_shared):
    @miniray.remote
    def noop():
        return None

    refs = [noop.remote() for _ in range(10_000)]
    assert miniray.get(refs) == [None] * 10_000


def test_cluster_info(ray_shared):
    assert miniray.is_initialized()
    assert miniray.cluster_resources()["CPU"] == 2.0
    assert miniray.available_resources().get("CPU", 0) <= 2.0
    nodes = miniray.nodes()
    assert len(nodes) == 1 and nodes[0]["Alive"]
    ctx = miniray.get_runtime_context()
    assert ctx.get_node_id() == nodes[0]["NodeID"]
    assert ctx.get_task_id() is None

    @miniray.remote
    def inside():
        c = miniray.get_runtime_context()
        return c.get_task_id(), c.get_node_id(), c.get_worker_id(), miniray.cluster_resources()["CPU"]

    task_id, node_id, worker_id, cpus = miniray.get(inside.remote())
    assert task_id and node_id == ctx.get_node_id() and worker_id != ctx.get_worker_id()
    assert cpus == 2.0
    assert miniray.get_gpu_ids() == []


def test_runtime_env_vars_in_task(ray_shared):
    import os

    @miniray.remote(runtime_env={"env_vars": {"MINIRAY_TEST_VAR": "hi"}})
    def read_env():
        return os.environ.get("MINIRAY_TEST_VAR")

    assert miniray.get(read_env.remote()) == "hi"
    assert miniray.get(read_env.options(runtime_env={"env_vars": {"MINIRAY_TEST_VAR": "yo"}}).remote()) == "yo"


def test_a_task_that_returns_an_object_ref_returns_the_ref(ray_shared):
    """As Ray: the ref itself comes back (a ref is awaitable, but it is no
    coroutine for the worker to run)."""
    @miniray.remote
    def child():
        return 5

    @miniray.remote
    def parent():
        return child.remote()

    inner = miniray.get(parent.remote())
    assert isinstance(inner, miniray.ObjectRef)
    assert miniray.get(inner) == 5
