"""A cluster on one machine: `miniray start --head`, drivers that attach
from other processes, `miniray status` and `miniray stop`; and the errors
a user meets on the way (bad flags, a port in use, no cluster, a wrong
token). Each test starts its own head in a temporary session directory,
on a free port, and stops it."""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import miniray
from miniray._private import cluster

from conftest import ENV, free_port, miniray_cli, session_processes, wait_for


def run_driver(code, temp_dir, wait=True, **kw):
    """A driver program in its own process, attached to the cluster."""
    env = dict(ENV, MINIRAY_TEMP_DIR=temp_dir)
    script = "import miniray\nminiray.init(address='auto')\n" + textwrap.dedent(code)
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    return out


@pytest.fixture
def head(tmp_path):
    """A head node: (address, temp dir, session dir)."""
    temp_dir = str(tmp_path)
    port = free_port()
    out = miniray_cli("start", "--head", "--port", str(port), "--temp-dir", temp_dir,
                      "--num-cpus", "2").stdout
    assert "miniray runtime started" in out
    address = f"127.0.0.1:{port}"
    session = os.path.realpath(os.path.join(temp_dir, "session_latest"))
    yield address, temp_dir, session
    miniray_cli("stop", "--temp-dir", temp_dir)
    assert wait_for(lambda: not session_processes(session), timeout=15)


def test_a_detached_actor_outlives_the_driver_that_made_it(head):
    address, temp_dir, session = head
    run_driver("""
        @miniray.remote
        class Counter:
            def __init__(self):
                self.n = 0
            def incr(self):
                self.n += 1
                return self.n
        c = Counter.options(name="counter", lifetime="detached", namespace="shared").remote()
        assert miniray.get(c.incr.remote()) == 1
    """, temp_dir)
    out = run_driver("""
        c = miniray.get_actor("counter", namespace="shared")
        print("count", miniray.get(c.incr.remote()))
        print("nodes", len(miniray.nodes()), miniray.cluster_resources()["CPU"])
    """, temp_dir)
    assert "count 2" in out
    assert "nodes 1 2.0" in out


def test_status_shows_resources_and_their_use(head):
    address, temp_dir, session = head
    driver = run_driver("""
        import sys
        @miniray.remote(num_cpus=1)
        class Holder:
            def ping(self):
                return 1
        h = Holder.remote()
        miniray.get(h.ping.remote())
        print("ready", flush=True)
        sys.stdin.read()  # until the test closes it
    """, temp_dir, wait=False, stdin=subprocess.PIPE)
    assert driver.stdout.readline().strip() == "ready"

    def shows_one_cpu_used():
        out = miniray_cli("status", "--temp-dir", temp_dir).stdout
        return "1/2 CPU" in out and "1 running" in out
    assert wait_for(shows_one_cpu_used, timeout=15)
    out = miniray_cli("status", "--address", address, "--temp-dir", temp_dir).stdout
    assert "(127.0.0.1, head)" in out and "actors: 1 alive" in out
    driver.stdin.close()
    driver.wait(30)


def test_a_driver_killed_with_kill_9_leaves_nothing_on_the_node(head):
    address, temp_dir, session = head
    driver = run_driver("""
        import numpy as np
        big = miniray.put(np.ones(50 << 20, dtype=np.uint8))
        @miniray.remote
        class A:
            def ping(self):
                return 1
        a = A.remote()
        miniray.get(a.ping.remote())
        @miniray.remote
        def sleepy():
            import time
            time.sleep(60)
        refs = [sleepy.remote() for _ in range(2)]
        print("ready", flush=True)
        import time
        time.sleep(600)
    """, temp_dir, wait=False)
    assert driver.stdout.readline().strip() == "ready"
    gcs = cluster.connect_gcs(address, temp_dir)

    def node():
        return [n for n in gcs.nodes() if n.alive][0]
    assert wait_for(lambda: node().object_store_used >= 50 << 20 and node().num_workers >= 3,
                    timeout=15)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    # The daemon frees its objects, stops its workers and actor, ends its job.
    assert wait_for(lambda: node().object_store_used == 0 and node().num_objects == 0,
                    timeout=15)
    assert wait_for(lambda: node().num_workers == 0 and node().num_pending_tasks == 0,
                    timeout=15)
    assert all(job.is_dead for job in gcs.jobs())
    assert all(actor.state == "DEAD" for actor in gcs.actors())


def test_stop_leaves_no_process(tmp_path):
    temp_dir = str(tmp_path)
    port = free_port()
    miniray_cli("start", "--head", "--port", str(port), "--temp-dir", temp_dir, "--num-cpus", "1")
    session = os.path.realpath(os.path.join(temp_dir, "session_latest"))
    run_driver("""
        @miniray.remote(lifetime="detached", name="d")
        class D:
            def ping(self):
                return 1
        miniray.get(D.remote().ping.remote())
    """, temp_dir)
    assert len(session_processes(session)) >= 3  # daemon, redis, the detached actor's worker
    out = miniray_cli("stop", "--temp-dir", temp_dir).stdout
    assert "Stopped 1 miniray node daemon" in out
    assert wait_for(lambda: not session_processes(session), timeout=15)
    with socket.socket() as s:  # redis let go of its port (TIME_WAIT aside)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def test_bad_flags_and_a_port_in_use_are_clear_errors(tmp_path):
    bad = miniray_cli("start", "--head", "--nmu-cpus", "2", check=False)
    assert bad.returncode == 2 and "unrecognized arguments: --nmu-cpus" in bad.stderr
    neither = miniray_cli("start", check=False)
    assert neither.returncode == 1 and "--head" in neither.stderr
    bad_json = miniray_cli("start", "--head", "--resources", "{not json", check=False)
    assert bad_json.returncode == 1 and "--resources must be a JSON object" in bad_json.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = miniray_cli("start", "--head", "--port", str(port), "--temp-dir", str(tmp_path),
                           check=False)
    assert busy.returncode == 1 and f"port {port} on 127.0.0.1 is already in use" in busy.stderr
    missing = miniray_cli("start", "--head", "--redis-server-path", "/nonexistent/redis",
                          "--temp-dir", str(tmp_path), check=False)
    assert missing.returncode == 1 and "redis-server was not found" in missing.stderr


def test_init_with_nothing_there_fails_fast_naming_the_address(no_runtime, tmp_path,
                                                               monkeypatch):
    monkeypatch.setenv("MINIRAY_TOKEN", "whatever")
    port = free_port()
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        miniray.init(address=f"127.0.0.1:{port}", _temp_dir=str(tmp_path))
    assert time.monotonic() - start < 10
    assert not miniray.is_initialized()
    monkeypatch.delenv("MINIRAY_TOKEN")
    with pytest.raises(ConnectionError, match="Could not find any running miniray cluster"):
        miniray.init(address="auto", _temp_dir=str(tmp_path))


def test_a_wrong_or_missing_token_is_refused(head, no_runtime, monkeypatch, tmp_path):
    address, temp_dir, session = head
    monkeypatch.setenv("MINIRAY_TOKEN", "not-the-token")
    with pytest.raises(ConnectionError, match="refused"):
        miniray.init(address=address, _temp_dir=temp_dir)
    monkeypatch.delenv("MINIRAY_TOKEN")
    with pytest.raises(ConnectionError, match="No token"):
        miniray.init(address=address, _temp_dir=str(tmp_path / "elsewhere"))  # no session there
    ctx = miniray.init(address=address, _temp_dir=temp_dir)
    assert ctx["address"] == address and ctx["job_id"] != "00000000"
    assert miniray.get(miniray.put(41)) == 41
