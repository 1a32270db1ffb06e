"""Progress bars for tasks and actors (Ray's ray.experimental.tqdm_ray).

    from miniray.experimental.tqdm_ray import tqdm

    @miniray.remote
    def work(items):
        for x in tqdm(items, desc="work"):
            ...

In a worker, a bar prints its state as one JSON line marked with MAGIC (at
most every `flush_interval_s`, and when it closes); the driver's log monitor
hands those lines to this module's bar manager instead of printing them,
and the driver draws one bar per description, summing the bars of every
task and actor that share it. In the driver a bar reports straight to the
manager.
"""
import json
import os
import sys
import threading
import time
import uuid
from typing import Any, Dict, Iterable, Optional

MAGIC = "__miniray_tqdm_magic_token__"


class tqdm:  # noqa: N801 - Ray's (and tqdm's) name
    """A progress bar usable in tasks, actors and the driver.

    Args:
        iterable: iterate over it, counting each item.
        desc: the bar's name; bars of the same name are drawn as one.
        total: the expected count (default len(iterable) when it has one).
        unit: what is counted ("it").
        position: accepted for tqdm compatibility.
        flush_interval_s: how often a worker reports at most.
    """

    def __init__(self, iterable: Optional[Iterable] = None, desc: Optional[str] = None,
                 total: Optional[int] = None, unit: Optional[str] = None,
                 position: Optional[int] = None, flush_interval_s: float = 1.0):
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self._iterable = iterable
        self._desc = desc or ""
        self._total = total
        self._unit = unit or "it"
        self._x = 0
        self._closed = False
        self._uuid = uuid.uuid4().hex
        self._interval = flush_interval_s
        self._last_flush = 0.0
        self._report()

    def __iter__(self):
        if self._iterable is None:
            raise ValueError("No iterable provided")
        for x in self._iterable:
            yield x
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self._x += n
        if time.monotonic() - self._last_flush >= self._interval:
            self._report()

    def set_description(self, desc: str) -> None:
        self._desc = desc
        self._report()

    def refresh(self) -> None:
        self._report()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._report()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _state(self) -> Dict[str, Any]:
        return {MAGIC: True, "x": self._x, "desc": self._desc, "total": self._total,
                "unit": self._unit, "uuid": self._uuid, "pid": os.getpid(),
                "closed": self._closed}

    def _report(self) -> None:
        self._last_flush = time.monotonic()
        from miniray._private.worker_state import WORKER, global_worker
        if global_worker.mode == WORKER:
            print(json.dumps(self._state()), flush=True)
        else:
            instance().update(self._state())


class _BarManager:
    """The driver's bars: every reported bar, drawn summed by description."""

    def __init__(self):
        self._lock = threading.Lock()
        self._bars: Dict[str, Dict[str, Any]] = {}  # uuid -> last state
        self._last_draw: Dict[str, float] = {}

    def update(self, state: Dict[str, Any]) -> None:
        with self._lock:
            self._bars[state["uuid"]] = state
            desc = state.get("desc", "")
            group = self._group(desc)
        now = time.monotonic()
        done = group["closed"]
        if done or now - self._last_draw.get(desc, 0.0) >= 0.5:
            self._last_draw[desc] = now
            self._draw(desc, group)

    def _group(self, desc: str) -> Dict[str, Any]:
        bars = [b for b in self._bars.values() if b.get("desc", "") == desc]
        totals = [b.get("total") for b in bars]
        return {"x": sum(int(b.get("x", 0)) for b in bars),
                "total": sum(totals) if all(t is not None for t in totals) else None,
                "unit": bars[0].get("unit", "it") if bars else "it",
                "closed": bool(bars) and all(b.get("closed") for b in bars),
                "bars": len(bars)}

    def bars(self) -> Dict[str, Dict[str, Any]]:
        """Each description's summed state: x, total, unit, closed, bars."""
        with self._lock:
            return {d: self._group(d) for d in {b.get("desc", "") for b in self._bars.values()}}

    def _draw(self, desc: str, g: Dict[str, Any]) -> None:
        x, total = g["x"], g["total"]
        if total:
            frac = min(1.0, x / total)
            filled = int(frac * 20)
            line = f"{desc}: {frac * 100:3.0f}%|{'#' * filled}{' ' * (20 - filled)}| " \
                   f"{x}/{total} [{g['bars']} bar{'s' if g['bars'] != 1 else ''}]"
        else:
            line = f"{desc}: {x}{g['unit']}"
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


_manager: Optional[_BarManager] = None
_manager_lock = threading.Lock()


def instance() -> _BarManager:
    """The driver's bar manager."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = _BarManager()
        return _manager


def process_update_line(line: str) -> bool:
    """A worker's output line: True if it was a bar's update (taken)."""
    start = line.find("{")
    try:
        state = json.loads(line[start:])
    except ValueError:
        return False
    if not isinstance(state, dict) or not state.get(MAGIC) or "uuid" not in state:
        return False
    instance().update(state)
    return True
