"""Application metrics (Ray's ray.util.metrics): Counter, Gauge, Histogram.

    from miniray.util.metrics import Counter
    processed = Counter("rows_processed", "rows seen", tag_keys=("stage",))

    @miniray.remote
    def work(rows):
        processed.inc(len(rows), tags={"stage": "parse"})

Recorded in any process (tasks, actors, the driver). Each process keeps its
own totals and writes them, at most every FLUSH_SECONDS and when it has
something new, to its node's key-value table under
"__metrics__:<job>:<pid>"; the dashboard's /metrics sums every process's
values and exports them in Prometheus' text format under the metric's own
name. Counters keep a process's totals after it exits.
"""
import json
import os
import re
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

KV_PREFIX = "__metrics__:"
FLUSH_SECONDS = 0.5
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")

_lock = threading.Lock()
_metrics: Dict[str, "Metric"] = {}
_dirty = threading.Event()
_flusher: Optional[threading.Thread] = None


class Metric:
    """A named metric with tag keys; see Counter, Gauge and Histogram."""

    kind = "untyped"

    def __init__(self, name: str, description: str = "", tag_keys: Optional[Sequence[str]] = None):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"a metric name is letters, digits, '_' and ':' and does not start "
                             f"with a digit, got {name!r}")
        if tag_keys is None:
            tag_keys = ()
        if isinstance(tag_keys, str) or not all(isinstance(k, str) for k in tag_keys):
            raise TypeError(f"tag_keys must be a tuple of strings, got {tag_keys!r}")
        self._name = name
        self._description = description or ""
        self._tag_keys: Tuple[str, ...] = tuple(tag_keys)
        self._default_tags: Dict[str, str] = {}
        # Tag values (in tag_keys' order) -> this process's value.
        self._values: Dict[Tuple[str, ...], object] = {}
        with _lock:
            _metrics[name] = self

    def __reduce__(self):
        # Sent to a task or actor (captured by a function): the copy there
        # is a new metric of that process, registered, with no values yet.
        return (_rebuild, (type(self), self._init_args(), self._default_tags))

    def _init_args(self) -> Tuple:
        return (self._name, self._description, self._tag_keys)

    @property
    def info(self) -> Dict[str, object]:
        return {"name": self._name, "description": self._description,
                "tag_keys": self._tag_keys, "default_tags": dict(self._default_tags)}

    def set_default_tags(self, default_tags: Dict[str, str]) -> "Metric":
        """Tags used when a record does not give them."""
        self._check_keys(default_tags)
        self._default_tags = {k: str(v) for k, v in default_tags.items()}
        return self

    def _check_keys(self, tags: Dict[str, str]) -> None:
        unknown = set(tags) - set(self._tag_keys)
        if unknown:
            raise ValueError(f"unknown tag key(s) {sorted(unknown)} for metric {self._name!r}; "
                             f"its tag_keys are {list(self._tag_keys)}")

    def _key(self, tags: Optional[Dict[str, str]]) -> Tuple[str, ...]:
        tags = tags or {}
        if not isinstance(tags, dict):
            raise TypeError(f"tags must be a dict, got {type(tags).__name__}")
        self._check_keys(tags)
        merged = dict(self._default_tags, **{k: str(v) for k, v in tags.items()})
        missing = [k for k in self._tag_keys if k not in merged]
        if missing:
            raise ValueError(f"missing value(s) for tag key(s) {missing} of metric "
                             f"{self._name!r}")
        return tuple(merged[k] for k in self._tag_keys)

    def _recorded(self) -> None:
        _dirty.set()
        _start_flusher()

    def _snapshot(self) -> Dict[str, object]:
        return {"kind": self.kind, "description": self._description,
                "tag_keys": list(self._tag_keys),
                "values": [[list(k), v] for k, v in self._values.items()]}


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {type(value).__name__}")
    return float(value)


class Counter(Metric):
    """A total that only goes up (Prometheus counter)."""

    kind = "counter"

    def inc(self, value: float = 1.0, tags: Optional[Dict[str, str]] = None) -> None:
        """Adds `value` (> 0) to the total of these tags."""
        v = _number(value, "value")
        if v <= 0:
            raise ValueError(f"value must be greater than 0, got {value}")
        key = self._key(tags)
        with _lock:
            self._values[key] = self._values.get(key, 0.0) + v
        self._recorded()


class Gauge(Metric):
    """A value that goes up and down (Prometheus gauge); processes' values add up."""

    kind = "gauge"

    def set(self, value: float, tags: Optional[Dict[str, str]] = None) -> None:
        """Sets this process's value for these tags."""
        v = _number(value, "value")
        key = self._key(tags)
        with _lock:
            self._values[key] = v
        self._recorded()


class Histogram(Metric):
    """Observed values counted in buckets (Prometheus histogram)."""

    kind = "histogram"

    def __init__(self, name: str, description: str = "", boundaries: Sequence[float] = (),
                 tag_keys: Optional[Sequence[str]] = None):
        if not boundaries or any(not isinstance(b, (int, float)) or b <= 0 for b in boundaries):
            raise ValueError("boundaries must be a non-empty list of positive numbers, got "
                             f"{boundaries!r}")
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"boundaries must be increasing, got {boundaries!r}")
        super().__init__(name, description, tag_keys)
        self._boundaries = [float(b) for b in boundaries]

    def _init_args(self) -> Tuple:
        return (self._name, self._description, self._boundaries, self._tag_keys)

    def observe(self, value: float, tags: Optional[Dict[str, str]] = None) -> None:
        """Counts `value` in its bucket."""
        v = _number(value, "value")
        key = self._key(tags)
        with _lock:
            state = self._values.get(key)
            if state is None:
                state = self._values[key] = {"buckets": [0] * (len(self._boundaries) + 1),
                                             "sum": 0.0, "count": 0}
            i = next((i for i, b in enumerate(self._boundaries) if v <= b),
                     len(self._boundaries))
            state["buckets"][i] += 1
            state["sum"] += v
            state["count"] += 1
        self._recorded()

    def _snapshot(self) -> Dict[str, object]:
        s = super()._snapshot()
        s["boundaries"] = self._boundaries
        return s


def _rebuild(cls, args, default_tags):
    with _lock:
        existing = _metrics.get(args[0])
    if type(existing) is cls:  # this process made it already (another task)
        return existing
    metric = cls(*args)
    metric._default_tags = dict(default_tags)
    return metric


# ---------------------------------------------------------------------------
# Reporting to the node

def _start_flusher() -> None:
    global _flusher
    if _flusher is not None:
        return
    with _lock:
        if _flusher is None:
            _flusher = threading.Thread(target=_flush_loop, name="miniray-metrics",
                                        daemon=True)
            _flusher.start()


def _flush_loop() -> None:
    while True:
        _dirty.wait()
        time.sleep(FLUSH_SECONDS)
        flush()


def flush() -> None:
    """Writes this process's values to its node now (also done in the
    background, at most every FLUSH_SECONDS)."""
    from miniray._private.worker_state import global_worker as w
    core = w.core
    if core is None:
        return
    _dirty.clear()
    with _lock:
        snapshot = {name: m._snapshot() for name, m in _metrics.items() if m._values}
    try:
        core.kv_put(f"{KV_PREFIX}{core.job_id}:{os.getpid()}",
                    json.dumps(snapshot).encode(), True)
    except Exception:  # noqa: BLE001 - the node went away: nothing to report to
        pass


# ---------------------------------------------------------------------------
# Exporting (the dashboard's /metrics)

def _labels(keys: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in zip(keys, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus_text(reports: List[bytes]) -> str:
    """Every process's reported values (KV values), summed per metric and
    tags, in Prometheus' text exposition format."""
    merged: Dict[str, Dict[str, object]] = {}
    for raw in reports:
        try:
            report = json.loads(raw)
        except ValueError:
            continue
        for name, m in report.items():
            into = merged.setdefault(name, {"kind": m["kind"], "description": m["description"],
                                            "tag_keys": m["tag_keys"],
                                            "boundaries": m.get("boundaries"), "values": {}})
            values = into["values"]
            for key, v in m["values"]:
                key = tuple(key)
                if m["kind"] == "histogram":
                    acc = values.setdefault(key, {"buckets": [0] * len(v["buckets"]),
                                                  "sum": 0.0, "count": 0})
                    acc["buckets"] = [a + b for a, b in zip(acc["buckets"], v["buckets"])]
                    acc["sum"] += v["sum"]
                    acc["count"] += v["count"]
                else:
                    values[key] = values.get(key, 0.0) + v
    lines = []
    for name in sorted(merged):
        m = merged[name]
        lines.append(f"# HELP {name} {_escape(m['description'])}")
        lines.append(f"# TYPE {name} {m['kind']}")
        for key, v in sorted(m["values"].items()):
            if m["kind"] != "histogram":
                lines.append(f"{name}{_labels(m['tag_keys'], key)} {v:g}")
                continue
            cumulative = 0
            for bound, n in zip(list(m["boundaries"]) + ["+Inf"], v["buckets"]):
                cumulative += n
                le = 'le="' + (bound if bound == "+Inf" else f"{bound:g}") + '"'
                lines.append(f"{name}_bucket{_labels(m['tag_keys'], key, le)} {cumulative}")
            lines.append(f"{name}_sum{_labels(m['tag_keys'], key)} {v['sum']:g}")
            lines.append(f"{name}_count{_labels(m['tag_keys'], key)} {v['count']}")
    return "\n".join(lines) + ("\n" if lines else "")
