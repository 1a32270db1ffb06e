"""The dashboard: the page in headless Chromium, its JSON API, Prometheus
/metrics with application metrics, the token, and the head daemon's."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from conftest import wait_for

import miniray
from miniray.util import metrics


def _get(url, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return r.status, r.read().decode()


def _split(dashboard_url):
    base, _, token = dashboard_url.partition("/?token=")
    return base, token


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')


def parse_prometheus(text):
    """{(name, frozenset(labels)): value} of Prometheus' text format; every
    line must be a comment or a sample."""
    samples, types = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples, types


@pytest.fixture
def dashboard():
    miniray.shutdown()
    ctx = miniray.init(num_cpus=2, include_dashboard=True, dashboard_port=0)
    yield ctx["dashboard_url"]
    miniray.shutdown()


def test_the_page_shows_a_running_task_and_an_actor_in_chromium(dashboard, tmp_path):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert os.path.exists(chromium), "chromium is installed by ./bazelw"
    marker = tmp_path / "started"

    @miniray.remote
    def long_running_job(path):
        open(path, "w").close()
        time.sleep(60)

    @miniray.remote
    class Inventory:
        def count(self):
            print("inventory log line")
            return 3

    inventory = Inventory.remote()
    assert miniray.get(inventory.count.remote()) == 3
    running = long_running_job.remote(str(marker))
    assert wait_for(marker.exists)
    time.sleep(1.5)  # a second sample for the store history

    out_dir = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR", str(tmp_path))
    screenshot = os.path.join(out_dir, "dashboard.png")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--window-size=1280,1400", "--virtual-time-budget=5000"]
    dom = subprocess.run(flags + [f"--user-data-dir={tmp_path / 'p1'}", "--dump-dom", dashboard],
                         capture_output=True, text=True, timeout=120, env=_chromium_env(tmp_path))
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # The task, running, and the actor, alive, as the page drew them from the API.
    assert re.search(r"<td>long_running_job</td><td><span class=\"RUNNING\">RUNNING", html), \
        html[-3000:]
    assert re.search(r"<td>Inventory</td><td></td><td>ALIVE</td>", html)
    assert "RUNNING: 1" in html and "1 running task(s), 1 actor(s)" in html
    shot = subprocess.run(flags + [f"--user-data-dir={tmp_path / 'p2'}",
                                   f"--screenshot={screenshot}", dashboard],
                          capture_output=True, text=True, timeout=120,
                          env=_chromium_env(tmp_path))
    assert shot.returncode == 0 and os.path.getsize(screenshot) > 10_000, shot.stderr[-2000:]
    # The page's logs come from the API behind it.
    base, token = _split(dashboard)
    files = json.loads(_get(base + "/api/logs", token)[1])
    pid = miniray.util.state.list_actors()[0]["pid"]
    name = next(f for f in files if f.endswith(f"-{pid}.out"))
    assert "inventory log line" in _get(f"{base}/api/logs/{name}", token)[1]
    miniray.cancel(running, force=True)


def _chromium_env(tmp_path):
    env = dict(os.environ)
    env["HOME"] = str(tmp_path)  # chromium writes its settings there
    return env


def test_requests_need_the_token(dashboard):
    base, token = _split(dashboard)
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request(base + "/metrics", headers=headers),
                                   timeout=10)
        assert e.value.code == 401
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(base + "/api/overview?token=nope", timeout=10)
    assert _get(base + "/api/overview", token)[0] == 200
    # The URL init() returned opens the page and sets its cookie.
    with urllib.request.urlopen(dashboard, timeout=10) as r:
        assert r.status == 200 and "miniray_token=" in r.headers["Set-Cookie"]
    assert dashboard.startswith("http://127.0.0.1:")


def test_metrics_export_task_states_store_and_application_metrics(dashboard):
    base, token = _split(dashboard)
    rows = metrics.Counter("rows_processed", "rows seen", tag_keys=("stage",))
    latency = metrics.Histogram("step_seconds", "step time", boundaries=[0.1, 1.0])
    depth = metrics.Gauge("queue_depth", "items waiting")

    @miniray.remote
    def work(i):
        rows.inc(10, tags={"stage": "parse"})
        latency.observe(0.05 if i % 2 else 0.5)
        return i

    assert miniray.get([work.remote(i) for i in range(6)]) == list(range(6))
    depth.set(7)  # from the driver too
    kept = miniray.put(b"z" * 500_000)

    def scraped():
        samples, types = parse_prometheus(_get(base + "/metrics", token)[1])
        # Each process writes its metrics every 0.5 s: wait for the
        # workers' and the driver's (the gauge).
        if samples.get(("rows_processed", frozenset({("stage", "parse")}))) == 60 and \
                samples.get(("step_seconds_count", frozenset())) == 6 and \
                ("queue_depth", frozenset()) in samples:
            return samples, types
        return None

    samples, types = wait_for(scraped, timeout=15, interval=0.1)
    assert types["rows_processed"] == "counter" and types["step_seconds"] == "histogram"
    assert samples[("step_seconds_bucket", frozenset({("le", "0.1")}))] == 3
    assert samples[("step_seconds_bucket", frozenset({("le", "+Inf")}))] == 6
    assert samples[("queue_depth", frozenset())] == 7
    assert samples[("miniray_tasks", frozenset({("State", "FINISHED")}))] >= 6
    assert samples[("miniray_object_store_used_bytes", frozenset())] >= 500_000
    assert ("miniray_spilled_bytes", frozenset()) in samples
    assert samples[("miniray_workers", frozenset())] >= 1
    del kept


def test_metric_arguments_are_checked():
    with pytest.raises(ValueError, match="metric name"):
        metrics.Counter("2bad")
    c = metrics.Counter("checked_total", tag_keys=("a",))
    with pytest.raises(ValueError, match="greater than 0"):
        c.inc(-1, tags={"a": "x"})
    with pytest.raises(ValueError, match="unknown tag key"):
        c.inc(1, tags={"a": "x", "b": "y"})
    with pytest.raises(ValueError, match="missing value"):
        c.inc(1)
    with pytest.raises(TypeError, match="number"):
        metrics.Gauge("g_checked").set("high")
    with pytest.raises(ValueError, match="boundaries"):
        metrics.Histogram("h_checked", boundaries=[])
    c.set_default_tags({"a": "dflt"}).inc(2)  # the default fills the tag


def test_init_checks_dashboard_options(no_runtime):
    with pytest.raises(ValueError, match="dashboard_port"):
        miniray.init(include_dashboard=True, dashboard_port=70000)
    with pytest.raises(TypeError, match="include_dashboard"):
        miniray.init(include_dashboard="yes")
    assert not miniray.is_initialized()


def test_the_head_daemon_serves_the_dashboard(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    cli = [sys.executable, "-m", "miniray"]
    with _free_port() as port:
        pass
    started = subprocess.run(cli + ["start", "--head", "--port", str(port), "--dashboard-port",
                                    "0", "--temp-dir", str(tmp_path)],
                             capture_output=True, text=True, env=env, timeout=60)
    try:
        assert started.returncode == 0, started.stderr
        url = re.search(r"Dashboard: (\S+)", started.stdout).group(1)
        base, token = _split(url)
        samples, _ = parse_prometheus(_get(base + "/metrics", token)[1])
        assert ("miniray_object_store_capacity_bytes", frozenset()) in samples
        nodes = json.loads(_get(base + "/api/nodes", token)[1])
        assert nodes[0]["state"] == "ALIVE" and nodes[0]["is_head_node"]
    finally:
        subprocess.run(cli + ["stop", "--temp-dir", str(tmp_path)], env=env, timeout=60)


class _free_port:
    def __enter__(self):
        import socket
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return self.s.getsockname()[1]

    def __exit__(self, *exc):
        self.s.close()
