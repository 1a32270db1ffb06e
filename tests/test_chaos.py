"""Chaos: worker processes SIGKILLed while a job runs (some while they
start), actors killed during calls. Every result must come back right, and
no task may run more often than its retry budget allows."""
import os
import random
import signal
import threading
import time

import miniray

from conftest import wait_for, worker_pids


class Killer:
    """SIGKILLs a random worker process every `interval` seconds, at most
    `limit` times; the newest (still starting) ones are as likely as any."""

    def __init__(self, interval, limit, choose=None):
        self.interval, self.limit, self.kills = interval, limit, 0
        self.choose = choose or (lambda pids: random.choice(pids))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.interval) and self.kills < self.limit:
            pids = worker_pids()
            if not pids:
                continue
            try:
                os.kill(self.choose(pids), signal.SIGKILL)
                self.kills += 1
            except ProcessLookupError:
                pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _runs(log_dir, key):
    try:
        with open(os.path.join(log_dir, key)) as f:
            return len(f.read())
    except FileNotFoundError:
        return 0


def test_tasks_survive_workers_killed_during_a_job(no_runtime, tmp_path):
    miniray.init(num_cpus=2)
    log_dir = str(tmp_path)
    retries = 4

    @miniray.remote(max_retries=retries)
    def work(i, log_dir):
        with open(os.path.join(log_dir, str(i)), "a") as f:
            f.write("x")  # one mark per run
        time.sleep(0.005 + (i % 5) * 0.002)
        return i * i

    n = 400
    random.seed(1)
    with Killer(interval=0.08, limit=25) as killer:
        results = miniray.get([work.remote(i, log_dir) for i in range(n)], timeout=240)
    assert results == [i * i for i in range(n)]
    assert killer.kills > 5
    runs = [_runs(log_dir, str(i)) for i in range(n)]
    assert all(1 <= r <= 1 + retries for r in runs), max(runs)
    assert sum(runs) > n  # some task was really interrupted and run again


def test_a_restarting_actor_answers_every_call(no_runtime, tmp_path):
    miniray.init(num_cpus=2)
    log_dir = str(tmp_path)
    retries = 3

    @miniray.remote(max_restarts=-1, max_task_retries=retries)
    class Echo:
        def __init__(self, log_dir):
            with open(os.path.join(log_dir, "pid"), "w") as f:
                f.write(str(os.getpid()))  # where the killer finds it

        def call(self, i, log_dir):
            with open(os.path.join(log_dir, str(i)), "a") as f:
                f.write("x")
            time.sleep(0.01)
            return i

        def pid(self):
            return os.getpid()

    echo = Echo.remote(log_dir)
    first_pid = miniray.get(echo.pid.remote())

    def the_actor(pids):
        with open(os.path.join(log_dir, "pid")) as f:
            return int(f.read())

    refs = [echo.call.remote(i, log_dir) for i in range(150)]
    with Killer(interval=0.25, limit=3, choose=the_actor) as killer:
        results = miniray.get(refs, timeout=240)
    assert results == list(range(150))
    assert killer.kills >= 1
    assert miniray.get(echo.pid.remote()) != first_pid  # it was restarted
    runs = [_runs(log_dir, str(i)) for i in range(150)]
    assert all(1 <= r <= 1 + retries for r in runs), max(runs)


def test_nothing_is_left_running_after_the_chaos(no_runtime):
    miniray.init(num_cpus=2)
    with Killer(interval=0.05, limit=5):
        miniray.get([miniray.remote(lambda: 1).remote() for _ in range(50)], timeout=120)
    miniray.shutdown()
    assert wait_for(lambda: not worker_pids())
