"""Seeing inside a running program: workers' output through the driver,
the state API, the timeline, the CLI from another process, progress bars."""
import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import wait_for

import miniray
from miniray.experimental import tqdm_ray
from miniray.util import state


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env.update(extra)
    return env


# ---------------------------------------------------------------------------
# Logs

def test_task_output_reaches_redirected_driver_streams(ray_start):
    @miniray.remote
    def speak(i):
        print(f"out-marker-{i}")
        print(f"err-marker-{i}", file=sys.stderr)
        return os.getpid()

    @miniray.remote
    class Talker:
        def talk(self):
            print("actor-marker")
            return os.getpid()

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        pids = miniray.get([speak.remote(i) for i in range(3)])
        talker = Talker.remote()
        actor_pid = miniray.get(talker.talk.remote())
        assert wait_for(lambda: all(f"out-marker-{i}" in out.getvalue() for i in range(3))
                           and "actor-marker" in out.getvalue()
                           and all(f"err-marker-{i}" in err.getvalue() for i in range(3)))
    text = out.getvalue()
    for i, pid in enumerate(pids):
        assert f"(speak pid={pid}) out-marker-{i}\n" in text
        assert f"(speak pid={pid}) err-marker-{i}\n" in err.getvalue()
    assert f"(Talker pid={actor_pid}) actor-marker\n" in text
    # The files themselves, in the session's logs directory.
    logs = state.list_logs()
    assert any(n.endswith(f"-{pids[0]}.out") for n in logs["worker_out"])
    lines = "".join(state.get_log(pid=pids[0]))
    assert "out-marker" in lines and ":task_name:" not in lines
    assert "actor-marker" in "".join(state.get_log(actor_id=talker._actor_id.hex()))


def test_a_driver_whose_stdout_closes_still_gets_every_result(tmp_path):
    # `python job.py | head -1`: the pipe closes after one line; printing
    # tasks go on, and the driver gets every result.
    script = tmp_path / "job.py"
    result = tmp_path / "result.json"
    script.write_text(textwrap.dedent(f"""
        import json, miniray
        miniray.init(num_cpus=2, _temp_dir={str(tmp_path)!r})

        @miniray.remote
        def chatty(i):
            for k in range(200):
                print("line", i, k, "x" * 200)
            return i * i

        print("first line", flush=True)
        values = miniray.get([chatty.remote(i) for i in range(20)])
        json.dump(values, open({str(result)!r}, "w"))
        miniray.shutdown()
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env())
    first = proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does
    _, err = proc.communicate(timeout=120)
    assert first.startswith(b"first line")
    assert proc.returncode == 0, err.decode()[-2000:]
    assert json.loads(result.read_text()) == [i * i for i in range(20)]
    assert b"BrokenPipeError" not in err


def test_infeasible_warning_goes_through_logging(ray_start, caplog):
    import logging
    handler_seen = []

    class Catch(logging.Handler):
        def emit(self, record):
            handler_seen.append(record.getMessage())

    logger = logging.getLogger("miniray")
    catch = Catch()
    logger.addHandler(catch)
    try:
        @miniray.remote(resources={"TPU": 1})
        def needs_tpu():
            return 1

        needs_tpu.remote()
        assert wait_for(lambda: any("TPU" in m for m in handler_seen))
    finally:
        logger.removeHandler(catch)


# ---------------------------------------------------------------------------
# The state API and the timeline

def test_state_api_lists_with_filters(ray_start):
    @miniray.remote
    def ok(x):
        return x

    @miniray.remote(max_retries=0)
    def fails():
        raise ValueError("no")

    @miniray.remote
    class Counter:
        def incr(self):
            return 1

    miniray.get([ok.remote(i) for i in range(4)])
    with pytest.raises(ValueError):
        miniray.get(fails.remote())
    c = Counter.options(name="counter").remote()
    miniray.get(c.incr.remote())
    kept = miniray.put(b"x" * 200_000)

    finished = state.list_tasks(filters=[("name", "=", "ok"), ("state", "=", "FINISHED")])
    assert len(finished) == 4
    assert all(t.worker_pid and t.start_time_ms <= t.end_time_ms for t in finished)
    failed = state.list_tasks(filters=[("state", "=", "failed")])
    assert [t["name"] for t in failed] == ["fails"]
    assert failed[0]["error_type"] == "TASK_EXECUTION_EXCEPTION"
    calls = state.list_tasks(filters=[("type", "=", "ACTOR_TASK")])
    assert [t.name for t in calls] == ["Counter.incr"]
    assert len(state.list_tasks(filters=[("name", "!=", "ok")], limit=2)) == 2

    actors = state.list_actors(filters=[("name", "=", "counter")])
    assert len(actors) == 1 and actors[0].state == "ALIVE" and actors[0].class_name == "Counter"
    workers = state.list_workers(filters=[("worker_type", "=", "WORKER")])
    assert any(w.actor_id == actors[0].actor_id for w in workers)
    assert state.list_workers(filters=[("worker_type", "=", "DRIVER")])[0].pid == os.getpid()
    objects = state.list_objects(filters=[("object_id", "=", kept.hex())])
    assert objects[0].object_size >= 200_000
    assert objects[0].reference_type == "LOCAL_REFERENCE" and objects[0].pid == os.getpid()
    assert state.list_nodes(filters=[("state", "=", "ALIVE")])[0].resources_total["CPU"] == 2
    jobs = state.list_jobs(filters=[("status", "=", "RUNNING")])
    assert jobs[0].driver_info["pid"] == os.getpid()
    assert state.list_placement_groups(filters=[("state", "=", "CREATED")]) == []

    summary = state.summarize_tasks()["cluster"]["summary"]
    assert summary["ok"]["state_counts"] == {"FINISHED": 4}
    assert summary["ok"]["run_time_s"]["count"] == 4
    assert summary["fails"]["state_counts"] == {"FAILED": 1}
    assert state.summarize_actors()["cluster"]["summary"]["Counter"]["state_counts"] == \
        {"ALIVE": 1}
    assert state.summarize_objects()["cluster"]["total_objects"] >= 1


def test_state_api_refuses_bad_filters(ray_start):
    with pytest.raises(ValueError, match="Invalid filter key 'colour'"):
        state.list_tasks(filters=[("colour", "=", "red")])
    with pytest.raises(ValueError, match="predicate"):
        state.list_actors(filters=[("state", ">", "ALIVE")])
    with pytest.raises(ValueError, match="tuple"):
        state.list_workers(filters=["pid=3"])
    with pytest.raises(ValueError, match="limit"):
        state.list_objects(limit=0)


def test_timeline_has_tasks_and_actor_calls(ray_start, tmp_path):
    @miniray.remote
    def work():
        time.sleep(0.02)
        return os.getpid()

    @miniray.remote
    class A:
        def call(self):
            time.sleep(0.01)
            return os.getpid()

    pids = set(miniray.get([work.remote() for _ in range(4)]))
    a = A.remote()
    actor_pid = miniray.get(a.call.remote())
    events = miniray.timeline()
    tasks = [e for e in events if e["name"] == "work"]
    assert len(tasks) == 4
    assert all(e["ph"] == "X" and e["dur"] >= 15_000 for e in tasks)
    assert {e["tid"] for e in tasks} == {f"worker {p}" for p in pids}  # one lane per worker
    calls = [e for e in events if e["name"] == "A.call"]
    assert len(calls) == 1 and calls[0]["tid"] == f"worker {actor_pid}"
    assert calls[0]["cat"] == "actor_task::A.call"
    path = tmp_path / "trace.json"
    assert miniray.timeline(filename=str(path)) is None
    assert len(json.loads(path.read_text())) == len(events)


# ---------------------------------------------------------------------------
# The CLI, from another process

def test_cli_reads_a_running_driver_from_another_process(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(f"""
        import sys, time, miniray
        miniray.init(num_cpus=2, _temp_dir={str(tmp_path)!r})

        @miniray.remote
        def visible(i):
            print("hello", i)
            return i

        @miniray.remote
        class Keeper:
            def ping(self):
                return 1

        keeper = Keeper.remote()
        miniray.get(keeper.ping.remote())
        miniray.get([visible.remote(i) for i in range(3)])
        held = miniray.put(b"y" * 300_000)
        print("ready", flush=True)
        sys.stdin.read()  # until the test is done
    """))
    env = _env(MINIRAY_TEMP_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, str(driver)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"ready"

        def cli(*args):
            r = subprocess.run([sys.executable, "-m", "miniray", *args], capture_output=True,
                               env=env, timeout=60, text=True)
            return r.returncode, r.stdout, r.stderr

        code, out, _ = cli("list", "tasks", "--filter", "name=visible", "--format", "json")
        assert code == 0
        rows = json.loads(out)
        assert len(rows) == 3 and {r["state"] for r in rows} == {"FINISHED"}
        code, out, _ = cli("list", "actors")
        assert code == 0 and "Keeper" in out and "ALIVE" in out
        code, out, _ = cli("summary", "tasks")
        assert code == 0 and "visible" in out and "FINISHED: 3" in out
        code, out, _ = cli("memory")
        assert code == 0 and "300" in out and "LOCAL_REFERENCE" in out
        code, out, _ = cli("status")
        assert code == 0 and f"pid {proc.pid}" in out and "CPU" in out
        code, out, _ = cli("logs")
        assert code == 0 and ".out" in out
        pid = rows[0]["worker_pid"]
        code, out, _ = cli("logs", "--pid", str(pid))
        assert code == 0 and "hello" in out
        trace = tmp_path / "trace.json"
        code, out, _ = cli("timeline", "--output", str(trace))
        assert code == 0 and len(json.loads(trace.read_text())) >= 4
        code, _, err = cli("list", "tasks", "--filter", "colour=red")
        assert code == 1 and "Invalid filter key 'colour'" in err
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    # With the program gone, the CLI says nothing runs here.
    r = subprocess.run([sys.executable, "-m", "miniray", "list", "tasks"], capture_output=True,
                       env=env, timeout=60, text=True)
    assert r.returncode == 1 and "Could not find a running miniray runtime" in r.stderr


# ---------------------------------------------------------------------------
# Progress bars

def test_tqdm_ray_bar_updated_from_several_tasks(ray_start):
    @miniray.remote
    def crunch(n):
        for _ in tqdm_ray.tqdm(range(n), desc="crunching", flush_interval_s=0.0):
            pass
        return n

    def finished():
        # The driver reads each worker's file in turn: the bar may close once
        # (one worker's bars done) before the others' lines are read.
        bar = tqdm_ray.instance().bars().get("crunching") or {}
        return bar.get("closed") and bar.get("x") == 100 and tqdm_ray.instance().bars()

    with contextlib.redirect_stderr(io.StringIO()) as drawn:
        assert miniray.get([crunch.remote(25) for _ in range(4)]) == [25] * 4
        bars = wait_for(finished)
    assert bars, tqdm_ray.instance().bars()
    bar = bars["crunching"]
    assert bar["x"] == 100 and bar["total"] == 100 and bar["bars"] == 4
    assert "crunching: 100%" in drawn.getvalue()
    # Its JSON lines are not shown as output.
    assert tqdm_ray.MAGIC not in drawn.getvalue()


def test_the_files_of_an_exited_worker_are_shown_to_the_end_then_let_go(ray_start):
    from miniray._private.worker import global_worker

    @miniray.remote(max_retries=0)
    def last_words():
        print(f"last words of {os.getpid()}", flush=True)
        os._exit(1)

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        with pytest.raises(miniray.exceptions.WorkerCrashedError):
            miniray.get(last_words.remote())
        assert wait_for(lambda: "last words of" in out.getvalue())
    pid = out.getvalue().split("last words of ")[1].split()[0]
    monitor = global_worker.log_monitor
    assert wait_for(lambda: {f"-{pid}.out", f"-{pid}.err"} <=
                    {n[n.rindex("-"):] for n in monitor._finished})
    assert not any(n.endswith(f"-{pid}.out") for n in monitor._files)
