"""Bad input and bad luck: each test here reproduces a defect of the core
(issue 8) and checks that it stays fixed: options refused with their name,
workers that cannot start, leaks on partial failure, a full store on
restore, an old session's memory, a bad runtime_env."""
import gc
import math
import os
import threading

import numpy as np
import pytest
from _miniray_core import rpc

import miniray
from miniray import exceptions
from miniray._private.worker import global_worker

from conftest import node_stats, wait_for, worker_pids


@miniray.remote
def identity(x):
    return x


@pytest.mark.parametrize("option,value,error", [
    ("num_cpus", float("nan"), ValueError),
    ("num_cpus", float("inf"), ValueError),
    ("num_gpus", -1, ValueError),
    ("memory", 1e300, ValueError),
    ("num_returns", 2 ** 32, ValueError),
    ("num_returns", 1.5, TypeError),
    ("max_retries", 2 ** 40, ValueError),
    ("max_retries", -2, ValueError),
    ("resources", {"disk": float("nan")}, ValueError),
])
def test_bad_task_options_are_refused_with_their_name(option, value, error):
    with pytest.raises(error, match=option if option != "resources" else "disk"):
        identity.options(**{option: value})


def test_bad_actor_and_init_options_are_refused_with_their_name(no_runtime):
    @miniray.remote
    class A:
        pass

    with pytest.raises(ValueError, match="max_restarts"):
        A.options(max_restarts=2 ** 31)
    with pytest.raises(ValueError, match="max_concurrency"):
        A.options(max_concurrency=0)
    with pytest.raises(ValueError, match="num_cpus"):
        miniray.init(num_cpus=math.nan)
    assert not miniray.is_initialized()


def test_workers_that_cannot_start_fail_the_task_with_their_stderr(no_runtime):
    # Every worker process dies at start-up: Python cannot find its library.
    miniray.init(num_cpus=1, runtime_env={"env_vars": {"PYTHONHOME": "/nonexistent"}})
    with pytest.raises(exceptions.RuntimeEnvSetupError) as info:
        miniray.get(identity.remote(1), timeout=60)
    message = str(info.value)
    assert "failed to start" in message
    assert "exited with code" in message
    assert "PYTHONHOME" in message or "encodings" in message  # the tail of its stderr


def test_a_worker_killed_while_it_starts_is_replaced(no_runtime):
    miniray.init(num_cpus=1)
    node = global_worker.node

    # Kill the (only) worker, then at once the one started to replace it.
    def _kill_all():
        for pid in worker_pids():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    assert wait_for(lambda: node.stats()["num_workers"] == 1)
    _kill_all()
    ref = identity.remote(7)
    _kill_all()  # maybe a fresh worker still starting: the task still runs
    assert miniray.get(ref, timeout=60) == 7


def test_a_failed_later_return_frees_the_earlier_shared_one(ray_start):
    @miniray.remote(num_returns=2, max_retries=0)
    def half_serializable():
        return np.zeros(40 << 20, dtype=np.uint8), threading.Lock()

    for _ in range(4):
        big, lock = half_serializable.remote()
        with pytest.raises(Exception):
            miniray.get(lock)
        del big, lock
    gc.collect()
    assert wait_for(lambda: node_stats()["store_used"] == 0)


def test_restoring_a_spilled_object_with_everything_pinned_is_store_full(no_runtime):
    miniray.init(num_cpus=1, object_store_memory=100 << 20)
    first = miniray.put(np.ones(60 << 20, dtype=np.uint8))
    second = miniray.put(np.ones(60 << 20, dtype=np.uint8))  # spills `first`
    assert node_stats()["num_spilled"] == 1
    view = miniray.get(second)  # mapped: it cannot move
    with pytest.raises(exceptions.ObjectStoreFullError):
        miniray.get(first)
    del view
    assert miniray.get(first)[123] == 1  # room again


def _maps_arena():
    with open("/proc/self/maps") as f:
        return "miniray_object_store" in f.read()


def test_a_live_objectref_does_not_keep_an_old_session_mapped(no_runtime):
    miniray.init(num_cpus=1)
    ref = miniray.put(np.ones(1 << 20))
    assert _maps_arena()
    miniray.shutdown()
    gc.collect()
    assert not _maps_arena()
    del ref


def test_a_bad_runtime_env_fails_the_task_not_the_worker(ray_start):
    assert wait_for(lambda: node_stats()["num_workers"] == 2)
    workers = set(worker_pids())
    core = global_worker.core
    fn = identity._prepare((1,), {})  # exports the function
    spec = rpc.TaskSpec(name="identity", function_id=identity._function_id, num_returns=1,
                        required_resources={"CPU": 1.0}, runtime_env="{not json")
    from miniray._private.remote_function import serialize_args
    blob, deps, contained, _ = serialize_args(fn, (1,), {}, "identity")
    [ret] = core.submit_task(spec, blob, deps, contained)
    ref = miniray.ObjectRef(ret, core)
    with pytest.raises(Exception, match="runtime_env is not valid JSON"):
        miniray.get(ref, timeout=30)
    assert miniray.get(identity.remote(3), timeout=30) == 3
    assert workers <= set(worker_pids())  # no worker died over it
