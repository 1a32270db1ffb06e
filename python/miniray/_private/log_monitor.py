"""Workers' output, shown by the driver of their job (Ray's log monitor).

Each worker writes its stdout and stderr to files in the session's logs
directory (worker_main._redirect_output):

    logs/worker-<worker_id>-<job_id>-<pid>.out   and   .err

A `LogMonitor` thread in the driver follows the files of its own job and
prints each new line through the driver's `sys.stdout` or `sys.stderr`
(whatever they are at that moment: `contextlib.redirect_stdout` and
notebooks see the lines) with Ray's prefix, "(name pid=N) line". Workers
write files, never the driver's terminal, so a slow reader or a closed pipe
cannot slow or fail a task: at worst the driver stops showing output.

A line ":task_name:NAME" or ":actor_name:NAME" in a file (worker_main.LogNames)
sets the name of the lines after it; tqdm_ray's progress lines are handed to
its bar manager instead of being printed. The node's own runtime messages
(an infeasible task, ...) go to the "miniray" logger.

Ray's log monitor runs per node and publishes through the GCS; here the
driver reads its node's files itself, and a node daemon follows the files
of each other node's driver's job there (peer_service.py) and hands their
lines, prefixed "(name pid=N, ip=IP)", to that driver when it asks
(NodeService GetLogs, cluster_router.py).
"""
import logging
import os
import sys
import threading
from typing import Callable, Dict, List, Optional

from miniray.experimental import tqdm_ray

logger = logging.getLogger("miniray")


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is when a record comes (so that
    redirect_stderr sees miniray's messages), as "(miniray) message"."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"(miniray) {self.format(record)}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def setup_logger() -> None:
    """The "miniray" logger prints its messages to stderr (as Ray's "ray"
    logger does) unless the program gave it handlers of its own."""
    if not logger.handlers:
        logger.addHandler(_StderrHandler())
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)

TASK_NAME = ":task_name:"
ACTOR_NAME = ":actor_name:"
POLL_SECONDS = 0.1


class _Followed:
    """One log file being followed: where we are in it, and whose lines these are."""

    __slots__ = ("file", "pid", "is_err", "name", "partial")

    def __init__(self, path: str, pid: int, is_err: bool):
        self.file = open(path, "rb")
        self.pid = pid
        self.is_err = is_err
        self.name = "worker"
        self.partial = b""


def parse_log_name(filename: str):
    """(worker_id, job_id, pid, is_err) of a worker log file's name, else None."""
    if not filename.startswith("worker-") or not filename.endswith((".out", ".err")):
        return None
    parts = filename[len("worker-"):-4].split("-")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2]), filename.endswith(".err")


class LogMonitor:
    """Follows the log files of job `job_id` in `log_dir` and prints their
    new lines in this (the driver's) process."""

    def __init__(self, log_dir: str, job_id: str,
                 take_node_logs: Optional[Callable[[], List[str]]] = None,
                 ip: Optional[str] = None, follow_workers: bool = True,
                 sink: Optional[Callable[[List[str], bool], None]] = None):
        self._dir = log_dir if follow_workers else None
        self._job = job_id
        self._take_node_logs = take_node_logs
        self._ip = ip
        # Where the lines go: this process's stdout/stderr, or `sink(lines,
        # is_err)` (a node daemon keeps them for a driver on another node).
        self._sink = sink
        self._files: Dict[str, _Followed] = {}
        self._finished: set = set()  # files of workers that exited, read to the end
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one pass at a time (the thread, or flush)
        self._broken = False  # our stdout went away: keep reading, show nothing
        self._thread = threading.Thread(target=self._run, name="miniray-log-monitor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.poll()

    def stop(self) -> None:
        """A last pass (what workers wrote before shutdown), then closes."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.poll()
        with self._lock:
            for f in self._files.values():
                f.file.close()
            self._files.clear()

    def poll(self) -> None:
        with self._lock:
            try:
                self._discover()
                for name, f in list(self._files.items()):
                    if not self._read(f) and not os.path.exists(f"/proc/{f.pid}"):
                        # Its worker exited and all it wrote is shown: let go.
                        f.file.close()
                        del self._files[name]
                        self._finished.add(name)
                if self._take_node_logs is not None:
                    for line in self._take_node_logs():
                        level = logging.WARNING if line.startswith("warning") else logging.INFO
                        logger.log(level, line)
            except Exception:  # noqa: BLE001 - never let output kill the driver
                pass

    def _discover(self) -> None:
        if self._dir is None:
            return
        try:
            names = os.listdir(self._dir)
        except OSError:
            return
        for name in names:
            if name in self._files or name in self._finished:
                continue
            parsed = parse_log_name(name)
            if parsed is None or parsed[1] != self._job:
                continue
            try:
                self._files[name] = _Followed(os.path.join(self._dir, name), parsed[2], parsed[3])
            except OSError:
                pass

    def _read(self, f: _Followed) -> bool:
        """Shows what `f` has new; False when it had nothing."""
        data = f.file.read()
        if not data:
            return False
        data = f.partial + data
        *lines, f.partial = data.split(b"\n")
        out: List[str] = []
        for raw in lines:
            line = raw.decode(errors="replace")
            if line.startswith(TASK_NAME) or line.startswith(ACTOR_NAME):
                f.name = line.split(":", 2)[2]
                continue
            if tqdm_ray.MAGIC in line:  # a progress bar's update: the driver's bars
                if self._sink is None:
                    if progress_line(line):
                        continue
                else:
                    out.append(line + "\n")
                    continue
            ip = f", ip={self._ip}" if self._ip else ""
            out.append(f"({f.name} pid={f.pid}{ip}) {line}\n")
        if not out:
            return True
        if self._sink is not None:
            self._sink(out, f.is_err)
        elif not self._broken:
            self._broken = not show(out, f.is_err)
        return True


def show(lines: List[str], is_err: bool) -> bool:
    """Writes workers' lines (each ending in a newline) through this
    process's current sys.stdout or sys.stderr; False if it is closed."""
    stream = sys.stderr if is_err else sys.stdout
    try:
        stream.write("".join(lines))
        stream.flush()
    except (OSError, ValueError):  # a closed pipe or stream: stop showing
        return False
    return True


def progress_line(line: str) -> bool:
    """A tqdm_ray update from a worker: handed to the driver's bars."""
    if tqdm_ray.MAGIC not in line:
        return False
    return tqdm_ray.process_update_line(line)
