"""The dashboard (Ray's ray/dashboard, in one small HTTP server).

Started by init(include_dashboard=True) in the driver, and by
`miniray start --head` in the head's node daemon (--include-dashboard,
--dashboard-host, --dashboard-port: Ray's flags; 127.0.0.1:8265 by
default). It serves:

    /                 the page (page.py): nodes, workers, tasks by state with
                      durations, actors, object store use over time, logs
    /api/overview     everything the page shows, as JSON (one node call)
    /api/tasks, /api/actors, /api/workers, /api/objects, /api/nodes,
    /api/jobs         the state API's rows (?limit=N)
    /api/logs         the session's log files; /api/logs/<file>?tail=N one
    /metrics          Prometheus text: tasks by state, object store bytes,
                      spilled bytes, workers, actors, and the application's
                      miniray.util.metrics

Every request needs the cluster token (nothing listens on a network without
it): `Authorization: Bearer <token>` (Prometheus' bearer_token), or the
URL init() returns, "/?token=<token>", which sets a cookie for the page's
later requests. A request without it gets 401 and is logged.

A sampler thread reads the node once a second for the store history.
"""
import collections
import hmac
import http.server
import json
import logging
import os
import threading
import time
import urllib.parse
from typing import Any, Callable, Dict, List, Optional

from miniray.dashboard import page
from miniray.util import metrics as app_metrics
from miniray.util.state import api

logger = logging.getLogger("miniray")

DEFAULT_PORT = 8265
HISTORY_POINTS = 600  # ten minutes at one sample a second
COOKIE = "miniray_token"


class Dashboard:
    """The HTTP server and its sampler. `source()` returns a state source
    (util/state/api._Source) to read the node through."""

    def __init__(self, source: Callable[[], "api._Source"], token: str,
                 host: str = "127.0.0.1", port: int = DEFAULT_PORT, sample_seconds: float = 1.0):
        self._source = source
        self._token = token
        self._history: collections.deque = collections.deque(maxlen=HISTORY_POINTS)
        self._stop = threading.Event()
        self._refusals = 0
        handler = _handler_for(self)
        try:
            self._server = http.server.ThreadingHTTPServer((host, port), handler)
        except OSError as e:
            raise ConnectionError(f"the dashboard cannot listen on {host}:{port}: "
                                  f"{e.strerror or e}") from None
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="miniray-dashboard",
                             daemon=True),
            threading.Thread(target=self._sample, args=(sample_seconds,),
                             name="miniray-dashboard-sampler", daemon=True),
        ]
        for t in self._threads:
            t.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The page's URL, with the token (it sets the page's cookie)."""
        return f"http://{self.address}/?token={self._token}"

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for t in self._threads:
            t.join(timeout=5)

    # --- data -------------------------------------------------------------

    def _sample(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                with self._source() as src:
                    node = src.core.get_state().snapshot.node
                self._history.append({"t": time.time(), "used": node.object_store_used,
                                      "capacity": node.object_store_capacity,
                                      "spilled": node.spilled_bytes})
            except Exception:  # noqa: BLE001 - the node is stopping
                pass

    def overview(self, task_limit: int = 100) -> Dict[str, Any]:
        with self._source() as src:
            state = src.core.get_state(tasks=True, workers=True, limit=task_limit)
            nodes = api._node_rows(src, state)
        tasks = api._task_rows(state)
        for t in tasks:
            t["duration_s"] = ((t["_end_us"] - t["_start_us"]) / 1e6
                               if t["_start_us"] and t["_end_us"] else None)
            for k in [k for k in t if k.startswith("_")]:
                del t[k]
        node = state.snapshot.node
        return {
            "time": time.time(),
            "nodes": nodes,
            "workers": api._worker_rows(state),
            "actors": api._actor_rows(state),
            "jobs": api._job_rows(src, state),
            "task_counts": dict(state.task_state_counts),
            "tasks_recorded": state.num_tasks_total,
            "tasks": list(reversed(tasks)),  # newest first
            "store": {"used": node.object_store_used, "capacity": node.object_store_capacity,
                      "objects": node.num_objects, "spilled_objects": node.num_spilled_objects,
                      "spilled_bytes": node.spilled_bytes},
            "store_history": list(self._history),
        }

    def rows(self, resource: str, limit: int) -> List[Dict[str, Any]]:
        with self._source() as src:
            rows = api._rows(resource, src, limit)
        return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows][-limit:]

    def metrics(self) -> str:
        with self._source() as src:
            state = src.core.get_state(workers=True, kv_prefix=app_metrics.KV_PREFIX)
        node = state.snapshot.node
        out = [
            "# HELP miniray_tasks Tasks (and actor calls) the node recorded, by state.",
            "# TYPE miniray_tasks gauge",
        ]
        for name, n in sorted(state.task_state_counts.items()):
            out.append(f'miniray_tasks{{State="{name}"}} {n}')
        actors: Dict[str, int] = {}
        for a in state.snapshot.actors:
            actors[a.state] = actors.get(a.state, 0) + 1
        gauges = [
            ("miniray_object_store_used_bytes", "Bytes of shared memory in use.",
             node.object_store_used),
            ("miniray_object_store_capacity_bytes", "The object store's size.",
             node.object_store_capacity),
            ("miniray_object_store_objects", "Objects in the node's table.", node.num_objects),
            ("miniray_spilled_objects", "Objects spilled to disk.", node.num_spilled_objects),
            ("miniray_spilled_bytes", "Bytes of objects spilled to disk.", node.spilled_bytes),
            ("miniray_workers", "Worker processes connected.",
             sum(w.worker_type == "WORKER" for w in state.workers)),
        ]
        for name, help_text, value in gauges:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
        out += ["# HELP miniray_actors Actors by state.", "# TYPE miniray_actors gauge"]
        for name, n in sorted(actors.items()):
            out.append(f'miniray_actors{{State="{name}"}} {n}')
        return "\n".join(out) + "\n" + app_metrics.prometheus_text([e.value for e in state.kv])

    def log_dir(self) -> Optional[str]:
        with self._source() as src:
            return os.path.join(src.session_dir, "logs") if src.session_dir else None

    # --- access -----------------------------------------------------------

    def authorized(self, headers, query: Dict[str, List[str]]) -> bool:
        given = []
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given.append(auth[len("Bearer "):].strip())
        for part in headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                given.append(value)
        given += query.get("token", [])
        return any(hmac.compare_digest(g.encode(), self._token.encode()) for g in given)

    def refused(self, client: str, path: str) -> None:
        self._refusals += 1
        if self._refusals <= 10 or self._refusals % 100 == 0:
            logger.warning("dashboard: refused %s from %s: missing or wrong cluster token "
                           "(%d refused so far)", path, client, self._refusals)


def _handler_for(dash: Dashboard):
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "miniray-dashboard"

        def log_message(self, *args):  # no line per request on stderr
            pass

        def _send(self, code: int, body: bytes, content_type: str, extra=()):
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, value: Any) -> None:
            self._send(200, json.dumps(value, default=str).encode(), "application/json")

        def do_GET(self):  # noqa: N802 - http.server's name
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            if not dash.authorized(self.headers, query):
                dash.refused(self.client_address[0], url.path)
                return self._send(401, b"miniray dashboard: missing or wrong cluster token. "
                                  b"Open the URL that miniray.init() or `miniray start "
                                  b"--head` printed (it carries the token).\n",
                                  "text/plain; charset=utf-8")
            try:
                self._route(url.path, query)
            except (ValueError, KeyError) as e:
                self._send(400, f"{e}\n".encode(), "text/plain; charset=utf-8")
            except (BrokenPipeError, ConnectionResetError):
                pass
            except Exception as e:  # noqa: BLE001 - the node went away meanwhile
                self._send(503, f"miniray is not reachable: {e}\n".encode(),
                           "text/plain; charset=utf-8")

        def _route(self, path: str, query: Dict[str, List[str]]) -> None:
            limit = int(query.get("limit", ["100"])[0])
            if path in ("/", "/index.html"):
                extra = []
                if "token" in query:  # the page's later requests carry the cookie
                    extra.append(("Set-Cookie", f"{COOKIE}={query['token'][0]}; HttpOnly; "
                                                "SameSite=Strict; Path=/"))
                return self._send(200, page.HTML.encode(), "text/html; charset=utf-8", extra)
            if path == "/metrics":
                return self._send(200, dash.metrics().encode(),
                                  "text/plain; version=0.0.4; charset=utf-8")
            if path == "/api/overview":
                return self._json(dash.overview(limit))
            resource = path[len("/api/"):] if path.startswith("/api/") else ""
            if resource in ("tasks", "actors", "workers", "objects", "nodes", "jobs",
                            "placement_groups"):
                return self._json(dash.rows(resource, limit))
            if path == "/api/logs":
                log_dir = dash.log_dir()
                return self._json(sorted(os.listdir(log_dir)) if log_dir else [])
            if path.startswith("/api/logs/"):
                return self._log(urllib.parse.unquote(path[len("/api/logs/"):]), query)
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def _log(self, name: str, query: Dict[str, List[str]]) -> None:
            log_dir = dash.log_dir()
            path = os.path.join(log_dir or "", os.path.basename(name))
            if not log_dir or not os.path.isfile(path):
                return self._send(404, b"no such log file\n", "text/plain; charset=utf-8")
            tail = int(query.get("tail", ["200"])[0])
            with open(path, "rb") as f:
                lines = [line for line in f.read().decode(errors="replace").splitlines()
                         if not line.startswith((":task_name:", ":actor_name:"))]
            self._send(200, "\n".join(lines[-tail:]).encode(), "text/plain; charset=utf-8")

    return Handler


class _Serialized:
    """A GcsClient used by the dashboard's threads one at a time (a Redis
    connection is not for concurrent use)."""

    def __init__(self, gcs):
        self._gcs = gcs
        self._lock = threading.Lock()

    def __getattr__(self, name):
        method = getattr(self._gcs, name)

        def call(*args, **kwargs):
            with self._lock:
                return method(*args, **kwargs)
        return call


def start_for_driver(w, host: str, port: int) -> Dashboard:
    """The dashboard of init(include_dashboard=True): reads this driver's node."""
    from miniray._private import cluster
    token = cluster.read(w.session_dir, "token")
    session = w.session_dir
    gcs = None
    if w.cluster is not None:  # its own connection: the driver's is the driver's
        gcs = _Serialized(cluster.connect_gcs(w.cluster.address))

    def source():
        if w.core is None:
            raise ConnectionError("miniray was shut down")
        return api._Source(w.core, gcs, session)
    return Dashboard(source, token, host, port)


def start_for_daemon(socket_name: str, session: str, token: str, gcs, host: str,
                     port: int) -> Dashboard:
    """The head daemon's dashboard: a read-only state client of its node
    (`gcs`: a GCS connection of its own)."""
    import _miniray_core
    gcs = _Serialized(gcs)
    lock = threading.Lock()
    holder: Dict[str, Any] = {}

    def source():
        with lock:
            core = holder.get("core")
            if core is None or not core.connected:
                core = holder["core"] = _miniray_core.CoreWorker.connect_observer(socket_name)
        return api._Source(core, gcs, session)
    return Dashboard(source, token, host, port)
