"""Shared fixtures. Under `bazel test` the py_library puts miniray and
_miniray_core on sys.path; under plain `pytest tests/` we add the source
package and the extension that `./bazelw build //python:all` produced."""
import gc
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    import _miniray_core  # noqa: F401
except ImportError:
    sys.path[:0] = [os.path.join(_ROOT, "bazel-bin", "python"), os.path.join(_ROOT, "python")]

import pytest  # noqa: E402

import miniray  # noqa: E402

# Session directories (each init() makes one, with its workers' logs) go to
# a temporary directory of this test run, removed when it ends, not to
# /tmp/miniray. Processes the tests start inherit it.
_TEMP_DIR = None
if "MINIRAY_TEMP_DIR" not in os.environ:
    _TEMP_DIR = tempfile.mkdtemp(prefix="miniray-tests-")
    os.environ["MINIRAY_TEMP_DIR"] = _TEMP_DIR


def pytest_sessionfinish(session, exitstatus):
    miniray.shutdown()
    if _TEMP_DIR:
        shutil.rmtree(_TEMP_DIR, ignore_errors=True)


@pytest.fixture
def ray_start():
    """A fresh 2-CPU runtime for one test."""
    miniray.shutdown()
    miniray.init(num_cpus=2, object_store_memory=512 << 20)
    yield miniray
    miniray.shutdown()


@pytest.fixture
def ray_shared():
    """A 2-CPU runtime shared by consecutive tests of a module (faster)."""
    if not miniray.is_initialized():
        miniray.init(num_cpus=2, object_store_memory=512 << 20)
    yield miniray


@pytest.fixture
def no_runtime():
    """For tests that call init() themselves."""
    miniray.shutdown()
    yield
    miniray.shutdown()


@pytest.fixture(autouse=True, scope="module")
def _shutdown_after_module():
    yield
    miniray.shutdown()


def node_stats():
    from miniray._private.worker import global_worker
    return global_worker.node.stats()


def worker_pids(parent=None):
    """The live worker processes whose parent is `parent` (this process)."""
    parent = os.getpid() if parent is None else parent
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if int(fields[1]) == parent and b"worker_main" in cmd and fields[0] != "Z":
            out.append(int(entry))
    return out


def wait_for(predicate, timeout=10.0, interval=0.01):
    """Polls `predicate` until it returns something true (for effects that
    travel between processes), and returns that (or the last false value)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        gc.collect()
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


# ---------------------------------------------------------------------------
# Clusters of node daemons (test_cluster.py, test_multinode.py)

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))


def miniray_cli(*args, check=True, timeout=60):
    proc = subprocess.run([sys.executable, "-m", "miniray", *args], env=ENV,
                          capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_processes(session):
    from miniray._private import cluster
    """Every process of a session: its daemons, their redis and workers."""
    pids = []
    socket_names = [info["socket_name"].encode() for info in cluster.node_files(session)]
    for info in cluster.node_files(session):
        pids += [info["pid"], info.get("redis_pid")]
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if int(entry) in pids or any(name in cmd for name in socket_names):
            alive.append(int(entry))
    return alive
