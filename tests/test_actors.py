"""Actors (issue 4): creation, ordered calls, handles, concurrency,
resources, lifecycle, restarts, names and namespaces."""
import asyncio
import os
import threading
import time

import pytest

import miniray
from miniray.exceptions import ActorDiedError, RayActorError

from conftest import wait_for


@miniray.remote
class Counter:
    def __init__(self, start=0):
        self.n = start

    def increment(self, by=1):
        self.n += by
        return self.n

    def value(self):
        return self.n

    def pid(self):
        return os.getpid()


@miniray.remote
class Log:
    def __init__(self):
        self.seen = []

    def add(self, x):
        self.seen.append(x)

    def get(self):
        return self.seen


def test_design_acceptance(ray_shared):
    c = Counter.remote()
    assert miniray.get([c.increment.remote() for _ in range(10)]) == list(range(1, 11))


def test_constructor_args_and_class_without_init(ray_shared):
    assert miniray.get(Counter.remote(start=5).increment.remote(2)) == 7

    @miniray.remote
    class Plain:
        def hello(self):
            return "hi"

    assert miniray.get(Plain.remote().hello.remote()) == "hi"


def test_direct_instantiation_and_calls_raise(ray_shared):
    with pytest.raises(TypeError, match=r"Counter\.remote\(\)"):
        Counter()
    c = Counter.remote()
    with pytest.raises(TypeError, match=r"increment\.remote\(\)"):
        c.increment()
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        c.nope.remote()
    with pytest.raises(TypeError):
        Counter.remote(1, 2, 3)
    with pytest.raises(ValueError, match="Invalid option keyword"):
        Counter.options(num_cpu=1)


def test_constructor_failure_fails_every_call(ray_shared):
    @miniray.remote
    class Broken:
        def __init__(self):
            raise ValueError("cannot build")

        def f(self):
            return 1

    b = Broken.remote()
    for _ in range(2):
        with pytest.raises(ActorDiedError, match="cannot build") as info:
            miniray.get(b.f.remote(), timeout=30)
        assert isinstance(info.value, RayActorError)
        assert "creation task" in str(info.value)


def test_three_thousand_calls_keep_order(ray_shared):
    log = Log.remote()
    for i in range(3000):
        log.add.remote(i)
    assert miniray.get(log.get.remote()) == list(range(3000))


def test_calls_keep_order_when_arguments_become_ready_out_of_order(ray_shared):
    @miniray.remote
    def slow(x, t):
        time.sleep(t)
        return x

    log = Log.remote()
    log.add.remote(slow.remote("first", 0.5))
    log.add.remote("second")  # ready at once, must still run second
    log.add.remote(slow.remote("third", 0.1))
    assert miniray.get(log.get.remote(), timeout=30) == ["first", "second", "third"]


def test_method_num_returns(ray_shared):
    @miniray.remote
    class Pair:
        @miniray.method(num_returns=2)
        def two(self):
            return 1, 2

        def three(self):
            return 1, 2, 3

    p = Pair.remote()
    a, b = p.two.remote()
    assert miniray.get([a, b]) == [1, 2]
    x, y, z = p.three.options(num_returns=3).remote()
    assert miniray.get(z) == 3


def test_handle_used_from_task_and_from_another_actor(ray_shared):
    c = Counter.remote()

    @miniray.remote
    def bump(handles):
        return miniray.get(handles[0].increment.remote(10))

    @miniray.remote
    class Caller:
        def __init__(self, counter):
            self.counter = counter

        def call(self):
            return miniray.get(self.counter.increment.remote(100))

    assert miniray.get(bump.remote([c])) == 10
    caller = Caller.remote(c)
    assert miniray.get(caller.call.remote()) == 110
    assert miniray.get(c.value.remote()) == 110


def _overlaps(spans):
    spans = sorted(spans)
    return any(s2 < e1 for (s1, e1), (s2, e2) in zip(spans, spans[1:]))


def test_threaded_actor_overlaps_calls(ray_shared):
    @miniray.remote(max_concurrency=4)
    class Threaded:
        def work(self):
            start = time.time()
            time.sleep(0.3)
            return start, time.time(), threading.get_ident()

    t = Threaded.remote()
    spans = miniray.get([t.work.remote() for _ in range(4)])
    assert _overlaps([(s, e) for s, e, _ in spans])
    assert len({tid for _, _, tid in spans}) > 1


def test_async_actor_interleaves_calls(ray_shared):
    @miniray.remote
    class AsyncActor:
        def __init__(self):
            self.active = 0
            self.peak = 0

        async def work(self):
            self.active += 1
            self.peak = max(self.peak, self.active)
            start = time.time()
            await asyncio.sleep(0.3)
            self.active -= 1
            return start, time.time()

        async def peak_seen(self):
            return self.peak

    a = AsyncActor.remote()
    spans = miniray.get([a.work.remote() for _ in range(5)])
    assert _overlaps(spans)
    assert miniray.get(a.peak_seen.remote()) == 5


def test_default_actor_runs_one_call_at_a_time(ray_shared):
    @miniray.remote
    class Serial:
        def work(self):
            start = time.time()
            time.sleep(0.1)
            return start, time.time()

    s = Serial.remote()
    assert not _overlaps(miniray.get([s.work.remote() for _ in range(4)]))


def test_actors_hold_no_cpu_unless_asked(ray_start):
    actors = [Counter.remote() for _ in range(4)]  # more actors than CPUs
    assert miniray.get([a.increment.remote() for a in actors]) == [1] * 4
    assert wait_for(lambda: miniray.available_resources().get("CPU") == 2.0)
    assert miniray.get(miniray.remote(lambda: "task ran").remote(), timeout=30) == "task ran"
    holder = Counter.options(num_cpus=1).remote()
    miniray.get(holder.increment.remote())
    assert wait_for(lambda: miniray.available_resources().get("CPU") == 1.0)
    miniray.kill(holder)
    assert wait_for(lambda: miniray.available_resources().get("CPU") == 2.0)


def test_actor_holds_custom_resources_for_its_life(no_runtime):
    miniray.init(num_cpus=2, resources={"slot": 1})
    holder = Counter.options(resources={"slot": 1}).remote()
    miniray.get(holder.increment.remote())
    assert "slot" not in miniray.available_resources()
    waiting = Counter.options(resources={"slot": 1}).remote()
    first_call = waiting.increment.remote()
    ready, _ = miniray.wait([first_call], timeout=0.5)
    assert ready == []  # the second actor cannot be placed while the first lives
    miniray.kill(holder)
    assert miniray.get(first_call, timeout=30) == 1


def test_actor_stdout_prefix(no_runtime, capfd):
    miniray.init(num_cpus=1)  # workers inherit the captured stdout

    @miniray.remote
    class Talker:
        def say(self):
            print("actor-says-hi")
            return os.getpid()

    pid = miniray.get(Talker.remote().say.remote())
    text = ""
    deadline = time.time() + 5
    while time.time() < deadline and "actor-says-hi" not in text:
        text += capfd.readouterr().out
        time.sleep(0.02)
    assert f"(Talker pid={pid}) actor-says-hi" in text


def test_kill_makes_later_calls_raise_actor_died(ray_shared):
    c = Counter.remote()
    pid = miniray.get(c.pid.remote())
    miniray.kill(c)
    with pytest.raises(ActorDiedError, match="killed"):
        miniray.get(c.increment.remote(), timeout=30)
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
                    open(f"/proc/{pid}/stat").read().split()[2] == "Z")
    with pytest.raises(ValueError):
        miniray.kill("not an actor")


def test_ray_terminate_finishes_queued_calls_then_exits(ray_shared):
    c = Counter.remote()
    refs = [c.increment.remote() for _ in range(5)]
    c.__ray_terminate__.remote()
    assert miniray.get(refs) == [1, 2, 3, 4, 5]
    with pytest.raises(ActorDiedError, match="exited on purpose"):
        miniray.get(c.increment.remote(), timeout=30)


def test_exit_actor_from_inside_a_method(ray_shared):
    @miniray.remote
    class Quitter:
        def quit(self):
            miniray.actor.exit_actor()

        def ping(self):
            return "pong"

    q = Quitter.remote()
    assert miniray.get(q.ping.remote()) == "pong"
    with pytest.raises(ActorDiedError, match=r"Quitter\.quit called exit_actor"):
        miniray.get(q.quit.remote(), timeout=30)  # as Ray: the exiting call fails too
    with pytest.raises(ActorDiedError):
        miniray.get(q.ping.remote(), timeout=30)


def test_actor_process_goes_away_when_last_handle_is_dropped(ray_shared):
    c = Counter.remote()
    pid = miniray.get(c.pid.remote())
    del c
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
                    open(f"/proc/{pid}/stat").read().split()[2] == "Z")


def test_detached_actor_outlives_its_handles(ray_shared):
    c = Counter.options(name="keeper", lifetime="detached").remote()
    pid = miniray.get(c.pid.remote())
    del c
    time.sleep(0.3)
    assert os.path.exists(f"/proc/{pid}")
    again = miniray.get_actor("keeper")
    assert miniray.get(again.pid.remote()) == pid
    miniray.kill(again)


def test_restart_after_crash_gives_fresh_state(ray_shared):
    @miniray.remote(max_restarts=1)
    class Fragile:
        def __init__(self):
            self.n = 0

        def incr(self):
            self.n += 1
            return self.n

        def crash(self):
            os._exit(1)

    f = Fragile.remote()
    assert miniray.get([f.incr.remote() for _ in range(3)]) == [1, 2, 3]
    with pytest.raises(ActorDiedError, match="exited with code 1"):
        miniray.get(f.crash.remote(), timeout=30)
    assert miniray.get(f.incr.remote(), timeout=30) == 1  # constructor ran again
    f.crash.remote()
    with pytest.raises(ActorDiedError):  # no restarts left
        miniray.get(f.incr.remote(), timeout=30)


def test_max_task_retries_retries_the_running_call(ray_shared, tmp_path):
    marker = tmp_path / "crashed"

    @miniray.remote(max_restarts=1, max_task_retries=1)
    class Once:
        def work(self):
            if not marker.exists():
                marker.write_text("x")
                os._exit(1)
            return "done"

    assert miniray.get(Once.remote().work.remote(), timeout=30) == "done"


def test_named_actor_found_from_a_task(ray_shared):
    # Held: as in Ray, a named actor without a handle is garbage-collected.
    keep = Counter.options(name="shared_counter").remote()

    @miniray.remote
    def use_named():
        return miniray.get(miniray.get_actor("shared_counter").increment.remote(5))

    assert miniray.get(use_named.remote()) == 5
    assert miniray.get(miniray.get_actor("shared_counter").value.remote()) == 5
    assert miniray.get(keep.value.remote()) == 5


def test_named_actor_errors_and_get_if_exists(ray_shared):
    a = Counter.options(name="unique").remote()
    with pytest.raises(ValueError, match="already exists"):
        Counter.options(name="unique").remote()
    same = Counter.options(name="unique", get_if_exists=True).remote()
    miniray.get(a.increment.remote())
    assert miniray.get(same.value.remote()) == 1
    with pytest.raises(ValueError, match="missing"):
        miniray.get_actor("missing")


def test_namespaces_separate_names(ray_shared):
    keep = [Counter.options(name="ns_counter", namespace="ns1").remote(start=1),
            Counter.options(name="ns_counter", namespace="ns2").remote(start=2)]
    one = miniray.get_actor("ns_counter", namespace="ns1")
    two = miniray.get_actor("ns_counter", namespace="ns2")
    assert miniray.get([one.value.remote(), two.value.remote()]) == [1, 2]
    with pytest.raises(ValueError):
        miniray.get_actor("ns_counter")  # the default namespace has none
    del keep


def test_named_actor_without_handles_is_collected(ray_shared):
    Counter.options(name="dropped").remote()
    assert wait_for(lambda: _lookup_fails("dropped"))


def _lookup_fails(name):
    try:
        miniray.get_actor(name)
        return False
    except ValueError:
        return True


def test_init_namespace_and_runtime_context(no_runtime):
    miniray.init(num_cpus=1, namespace="team")
    try:
        assert miniray.get_runtime_context().namespace == "team"

        @miniray.remote
        class Who:
            def ids(self):
                ctx = miniray.get_runtime_context()
                return ctx.get_actor_id(), ctx.namespace

        w = Who.options(name="who").remote()
        actor_id, ns = miniray.get(w.ids.remote())
        assert actor_id == w._actor_id.hex() and ns == "team"
        assert miniray.get_actor("who", namespace="team") == w
    finally:
        miniray.shutdown()


def test_env_vars_in_tasks_and_actors(no_runtime, tmp_path):
    miniray.init(num_cpus=2, runtime_env={"env_vars": {"JOB_VAR": "job", "BOTH": "job"}})
    try:
        @miniray.remote
        def read():
            return os.environ.get("JOB_VAR"), os.environ.get("BOTH")

        @miniray.remote
        class Reader:
            def read(self):
                return os.environ.get("JOB_VAR"), os.environ.get("BOTH"), os.environ.get("ACTOR_VAR")

        assert miniray.get(read.remote()) == ("job", "job")
        task_level = read.options(runtime_env={"env_vars": {"BOTH": "task"}})
        assert miniray.get(task_level.remote()) == ("job", "task")
        r = Reader.options(runtime_env={"env_vars": {"ACTOR_VAR": "actor"}}).remote()
        assert miniray.get(r.read.remote()) == ("job", "job", "actor")
    finally:
        miniray.shutdown()


def test_job_working_dir(no_runtime, tmp_path):
    (tmp_path / "wd_module.py").write_text("VALUE = 'from working_dir'\n")
    miniray.init(num_cpus=1, runtime_env={"working_dir": str(tmp_path)})
    try:
        @miniray.remote
        def probe():
            import wd_module
            return wd_module.VALUE, os.getcwd()

        assert miniray.get(probe.remote()) == ("from working_dir", str(tmp_path))
    finally:
        miniray.shutdown()


def test_concurrent_calls_see_their_own_task_id(ray_shared):
    @miniray.remote(max_concurrency=3)
    class Threaded:
        def whoami(self):
            before = miniray.get_runtime_context().get_task_id()
            time.sleep(0.2)  # the other calls start meanwhile
            return before, miniray.get_runtime_context().get_task_id()

    t = Threaded.remote()
    results = miniray.get([t.whoami.remote() for _ in range(3)])
    assert all(before == after for before, after in results)
    assert len({before for before, _ in results}) == 3


def test_many_actors_on_a_small_node(ray_shared):
    actors = [Counter.remote(start=i) for i in range(20)]
    assert miniray.get([a.value.remote() for a in actors], timeout=60) == list(range(20))


def test_actor_constructor_arguments_survive_a_restart(ray_shared):
    import numpy as np

    @miniray.remote(max_restarts=1)
    class Holder:
        def __init__(self, data):
            self.total = float(data.sum())

        def total_and_crash(self, crash):
            if crash:
                os._exit(1)
            return self.total

    data = miniray.put(np.ones(1_000_000))  # large: lives in shared memory
    h = Holder.remote(data)
    del data
    assert miniray.get(h.total_and_crash.remote(False)) == 1e6
    with pytest.raises(ActorDiedError):
        miniray.get(h.total_and_crash.remote(True), timeout=30)
    assert miniray.get(h.total_and_crash.remote(False), timeout=30) == 1e6


def test_large_arguments_to_actor_methods(ray_shared):
    import numpy as np

    @miniray.remote
    class Summer:
        def total(self, a):
            return float(a.sum())

    s = Summer.remote()
    arrays = [np.full(500_000, i, dtype=np.float64) for i in range(4)]
    assert miniray.get([s.total.remote(a) for a in arrays]) == [i * 5e5 for i in range(4)]


def test_cancel_queued_actor_call(ray_shared):
    from miniray.exceptions import TaskCancelledError

    @miniray.remote
    class Slow:
        def work(self, t):
            time.sleep(t)
            return t

    s = Slow.remote()
    miniray.get(s.work.remote(0))  # alive: later calls go straight to its worker
    first = s.work.remote(0.5)
    second = s.work.remote(0)
    third = s.work.remote(0)
    time.sleep(0.1)
    miniray.cancel(second)
    assert miniray.get(first) == 0.5
    with pytest.raises(TaskCancelledError):
        miniray.get(second, timeout=10)
    assert miniray.get(third) == 0


def test_cancel_a_running_call_on_an_async_actor(ray_shared):
    """As Ray: the call's asyncio task is cancelled, get() raises
    TaskCancelledError, and the actor lives on."""
    import asyncio
    from miniray.exceptions import TaskCancelledError

    @miniray.remote
    class Waiter:
        def __init__(self):
            self.started = 0
            self.cleaned_up = 0

        async def wait_forever(self):
            self.started += 1
            try:
                await asyncio.sleep(3600)
            finally:
                self.cleaned_up += 1

        async def cleanups(self):
            return self.cleaned_up

        async def starts(self):
            return self.started

    a = Waiter.remote()
    for i in range(3):
        ref = a.wait_forever.remote()
        assert wait_for(lambda: miniray.get(a.starts.remote()) == i + 1)  # awaiting now
        miniray.cancel(ref)
        with pytest.raises(TaskCancelledError):
            miniray.get(ref, timeout=30)
    assert miniray.get(a.cleanups.remote(), timeout=30) == 3  # alive, and each call unwound


def test_a_running_sync_actor_call_sees_is_canceled_and_ends_cancelled(ray_shared):
    from miniray.exceptions import TaskCancelledError

    @miniray.remote
    class Looper:
        def loop(self):
            ctx = miniray.get_runtime_context()
            for i in range(600):
                if ctx.is_canceled():
                    return f"stopped after {i} rounds"
                time.sleep(0.05)
            return "never cancelled"

        def ping(self):
            return "pong"

    a = Looper.remote()
    ref = a.loop.remote()
    time.sleep(0.3)
    miniray.cancel(ref)
    with pytest.raises(TaskCancelledError):
        miniray.get(ref, timeout=30)
    assert miniray.get(a.ping.remote(), timeout=30) == "pong"
    with pytest.raises(RuntimeError, match="only available in a task"):
        miniray.get_runtime_context().is_canceled()


def test_ray_ready_and_what_an_actor_knows_about_itself(no_runtime):
    @miniray.remote(resources={"widget": 1})
    class Introspective:
        def whoami(self):
            ctx = miniray.get_runtime_context()
            return ctx.get_actor_name(), ctx.get_assigned_resources(), ctx.get_actor_id()

        def my_handles_id(self):
            me = miniray.get_runtime_context().current_actor
            return me._actor_id.hex()

    miniray.init(num_cpus=2, resources={"widget": 2})
    a = Introspective.options(name="inspector").remote()
    assert miniray.get(a.__ray_ready__.remote()) is True
    name, resources, actor_id = miniray.get(a.whoami.remote())
    assert name == "inspector" and resources == {"widget": 1.0}
    assert miniray.get(a.my_handles_id.remote()) == actor_id
    unnamed = Introspective.remote()
    assert miniray.get(unnamed.whoami.remote())[0] is None
    with pytest.raises(RuntimeError, match="only available in an actor"):
        _ = miniray.get_runtime_context().current_actor


def test_a_task_sees_its_assigned_resources(ray_shared):
    @miniray.remote(num_cpus=0.5)
    def resources():
        return miniray.get_runtime_context().get_assigned_resources()

    assert miniray.get(resources.remote()) == {"CPU": 0.5}
    assert miniray.get(resources.options(num_cpus=2).remote()) == {"CPU": 2.0}
    assert miniray.get_runtime_context().get_assigned_resources() == {}


def test_list_named_actors(no_runtime):
    from miniray.util import list_named_actors

    @miniray.remote
    class Named:
        def ping(self):
            return "pong"

    miniray.init(num_cpus=1, namespace="mine")
    a = Named.options(name="a").remote()
    b = Named.options(name="b", namespace="theirs").remote()
    Named.remote()  # unnamed: not listed
    miniray.get([a.ping.remote(), b.ping.remote()])
    assert list_named_actors() == ["a"]
    assert sorted(list_named_actors(all_namespaces=True), key=lambda d: d["name"]) == [
        {"name": "a", "namespace": "mine"}, {"name": "b", "namespace": "theirs"}]
    miniray.kill(a)
    assert wait_for(lambda: list_named_actors() == [])


def test_max_pending_calls_refuses_one_call_too_many(ray_shared):
    from miniray.exceptions import PendingCallsLimitExceeded

    @miniray.remote(max_pending_calls=2)
    class Slow:
        def work(self):
            time.sleep(0.3)
            return 1

    s = Slow.remote()
    first, second = s.work.remote(), s.work.remote()
    with pytest.raises(PendingCallsLimitExceeded, match="max_pending_calls"):
        s.work.remote()
    assert miniray.get([first, second]) == [1, 1]
    assert miniray.get(s.work.remote()) == 1  # room again once they finished


def test_concurrency_groups_run_their_calls_apart(ray_shared):
    import threading

    @miniray.remote(concurrency_groups={"io": 2, "compute": 1})
    class Server:
        @miniray.method(concurrency_group="io")
        def fetch(self):
            start = time.monotonic()
            time.sleep(0.4)
            return threading.current_thread().name, start

        @miniray.method(concurrency_group="compute")
        def crunch(self):
            start = time.monotonic()
            time.sleep(0.4)
            return threading.current_thread().name, start

        def default(self):
            return threading.current_thread().name, time.monotonic()

    s = Server.remote()
    miniray.get(s.default.remote())  # created
    fetches = [s.fetch.remote(), s.fetch.remote()]
    crunches = [s.crunch.remote(), s.crunch.remote()]
    default = s.default.remote()
    (f1, t1), (f2, t2) = miniray.get(fetches)
    (c1, u1), (c2, u2) = miniray.get(crunches)
    name, _ = miniray.get(default)
    assert abs(t1 - t2) < 0.3  # "io" runs two at once
    assert abs(u1 - u2) >= 0.35  # "compute" one at a time
    assert f1.startswith("actor-io") and c1.startswith("actor-compute")
    assert not name.startswith(("actor-io", "actor-compute"))
    # .options() picks a group per call; an unknown group is an error.
    via_options = s.default.options(concurrency_group="io").remote()
    assert miniray.get(via_options)[0].startswith("actor-io")
    with pytest.raises(ValueError, match="not one of the actor's"):
        s.default.options(concurrency_group="nope").remote()

    @miniray.remote(concurrency_groups={"io": 1})
    class Misconfigured:
        @miniray.method(concurrency_group="disk")
        def read(self):
            return 1

    with pytest.raises(ValueError, match="does not define"):
        Misconfigured.remote()
