"""Start-up, output forwarding, shutdown and crash cleanup."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import miniray

from conftest import wait_for, worker_pids


def _maps_arena(pid):
    try:
        with open(f"/proc/{pid}/maps") as f:
            return "miniray_object_store" in f.read()
    except OSError:
        return False


def _abstract_sockets():
    with open("/proc/net/unix") as f:
        return [line.split()[-1] for line in f if "@miniray-" in line]


def test_shutdown_leaves_no_process_socket_or_shared_memory():
    shm_before = set(os.listdir("/dev/shm"))
    miniray.init(num_cpus=2)
    assert wait_for(lambda: len(worker_pids(os.getpid())) == 2)
    assert miniray.get(miniray.remote(lambda: 1).remote()) == 1
    assert _maps_arena(os.getpid()) and _abstract_sockets()
    workers = worker_pids(os.getpid())
    miniray.shutdown()
    assert worker_pids(os.getpid()) == []
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert wait_for(lambda: not _maps_arena(os.getpid()))
    assert not [s for s in _abstract_sockets() if str(os.getpid()) in s]
    assert set(os.listdir("/dev/shm")) == shm_before
    assert not miniray.is_initialized()


def test_init_after_shutdown_and_reinit_error():
    miniray.init(num_cpus=1)
    with pytest.raises(RuntimeError, match="init twice"):
        miniray.init(num_cpus=1)
    miniray.init(ignore_reinit_error=True)
    miniray.shutdown()
    miniray.init(num_cpus=1)
    assert miniray.get(miniray.put("again")) == "again"
    miniray.shutdown()


def test_unknown_init_option_is_rejected():
    with pytest.raises(TypeError, match="num_cpuz"):
        miniray.init(num_cpuz=2)
    assert not miniray.is_initialized()


def test_first_remote_call_starts_runtime():
    assert not miniray.is_initialized()
    try:
        assert miniray.get(miniray.remote(lambda x: x + 1).remote(1)) == 2
        assert miniray.is_initialized()
    finally:
        miniray.shutdown()


def test_task_stdout_prefix_format(capfd):
    miniray.init(num_cpus=1)
    try:
        @miniray.remote
        def speak():
            print("marker-line")
            return os.getpid()

        pid = miniray.get(speak.remote())
        deadline = time.time() + 5
        text = ""
        while time.time() < deadline and "marker-line" not in text:
            text += capfd.readouterr().out
            time.sleep(0.02)
        assert f"(speak pid={pid}) marker-line" in text
    finally:
        miniray.shutdown()


def test_task_stderr_reaches_the_driver(capfd):
    # Until it registers a worker's stderr goes to the node (to report a
    # failed start); then it must be the driver's stderr again.
    miniray.init(num_cpus=1)
    try:
        @miniray.remote
        def complain():
            import sys
            print("stderr-marker", file=sys.stderr)
            return os.getpid()

        pid = miniray.get(complain.remote())
        deadline = time.time() + 5
        text = ""
        while time.time() < deadline and "stderr-marker" not in text:
            text += capfd.readouterr().err
            time.sleep(0.02)
        assert f"(complain pid={pid}) stderr-marker" in text
    finally:
        miniray.shutdown()


def test_log_to_driver_false_silences_workers(capfd):
    miniray.init(num_cpus=1, log_to_driver=False)
    try:
        @miniray.remote
        def speak():
            print("should-not-appear")
            return 1

        assert miniray.get(speak.remote()) == 1
        time.sleep(0.2)
        assert "should-not-appear" not in capfd.readouterr().out
    finally:
        miniray.shutdown()


def test_kill_9_of_driver_leaves_no_workers(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time
        import miniray
        miniray.init(num_cpus=2)
        assert miniray.get(miniray.remote(lambda: 1).remote()) == 1
        print("ready", flush=True)
        time.sleep(60)
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        workers = worker_pids(proc.pid)
        assert len(workers) == 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert wait_for(lambda: not any(os.path.exists(f"/proc/{w}") for w in workers), timeout=10)
        assert not [s for s in _abstract_sockets() if f"miniray-{proc.pid}-" in s]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_workers_import_driver_modules(tmp_path, monkeypatch):
    (tmp_path / "helper_mod.py").write_text("def triple(x):\n    return 3 * x\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import helper_mod

    miniray.init(num_cpus=1)
    try:
        @miniray.remote
        def use(x):
            import helper_mod as h
            return h.triple(x), os.getcwd()

        value, cwd = miniray.get(use.remote(2))
        assert value == 6 and cwd == str(tmp_path)
        assert miniray.get(miniray.remote(helper_mod.triple).remote(3)) == 9
    finally:
        miniray.shutdown()


def test_ctrl_c_interrupts_a_blocked_get():
    miniray.init(num_cpus=1)
    try:
        @miniray.remote
        def forever():
            time.sleep(30)

        r = forever.remote()
        signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        t = time.time()
        with pytest.raises(KeyboardInterrupt):
            miniray.get(r)
        assert time.time() - t < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        miniray.shutdown()
