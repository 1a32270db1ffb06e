"""The main loop of a worker process.

Started by the node runtime as `python -m miniray._private.worker_main
--address=<socket>`. It connects, then runs tasks one at a time: fetch the
function (cached), rebuild the arguments (dependency values arrive with the
task; shared-memory ones are mapped without a copy), run, store the returns.
What a task prints goes to this worker's log files in the session's logs
directory; the driver of its job prints it, prefixed with the task's name
and this process's pid, as Ray does (log_monitor.py).
"""
import json
import os
import signal
import sys
import traceback


def _setup_path():
    # Workers import what the driver can: its sys.path, and its cwd (or the
    # job's working_dir), as Ray's workers do.
    working_dir = os.environ.get("MINIRAY_WORKING_DIR")
    driver_cwd = os.environ.get("MINIRAY_DRIVER_CWD")
    if working_dir:
        os.chdir(working_dir)
    elif driver_cwd and os.path.isdir(driver_cwd):
        os.chdir(driver_cwd)  # a node daemon's workers start where it did
    driver_path = json.loads(os.environ.get("MINIRAY_DRIVER_SYS_PATH", "[]"))
    if working_dir:
        driver_path.insert(0, working_dir)
    sys.path[:] = list(dict.fromkeys(driver_path + sys.path))


class LogNames:
    """Marks this worker's log files with the name its next lines belong to.

    The driver's log monitor (log_monitor.py) prints each line as Ray does,
    "(name pid=N) line": `name` is the running task's function, or the
    actor's class. A line ":task_name:NAME" (or ":actor_name:NAME") in the
    file says so, written only when the name changes, as Ray's workers mark
    their log files.
    """

    def __init__(self):
        self._last = None
        self._actor = False

    def _mark(self, line: str) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
                os.write(stream.fileno(), line.encode(errors="replace"))
            except (OSError, ValueError):
                pass

    def task(self, name: str) -> None:
        if self._actor or name == self._last:
            return
        self._last = name
        self._mark(f":task_name:{name}\n")

    def actor(self, class_name: str) -> None:
        self._actor = True
        self._last = class_name
        self._mark(f":actor_name:{class_name}\n")


def _redirect_output(core) -> None:
    """Sends this process's stdout and stderr (fds 1 and 2, so C extensions'
    output too) to its files in the session's logs directory: Ray's
    worker-<worker_id>-<job_id>-<pid>.out and .err. Writing a file never
    blocks on a reader: a slow or closed terminal cannot slow or fail a
    task. Until now stderr was a pipe the node read (a worker that cannot
    start leaves its last words there)."""
    log_dir = os.environ.get("MINIRAY_LOG_DIR")
    node_stderr = os.environ.pop("MINIRAY_STDERR_FD", None)
    sys.stdout.flush()
    sys.stderr.flush()
    if log_dir:
        base = os.path.join(log_dir, f"worker-{core.worker_id}-{core.job_id}-{os.getpid()}")
        for suffix, fd in ((".out", 1), (".err", 2)):
            f = os.open(base + suffix, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            os.dup2(f, fd)
            os.close(f)
    elif node_stderr:
        os.dup2(int(node_stderr), 2)  # no session directory: the node's stderr
    if node_stderr:
        os.close(int(node_stderr))
    # Line by line: the driver shows a task's output while it runs.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)


def _actor_runner(w, executor, options):
    """How this actor runs its calls: one at a time in this thread (the
    default), on a pool of max_concurrency threads, or on one asyncio event
    loop for async actors (at most max_concurrency calls at once). With
    concurrency_groups, each group has its own pool (or limit on the loop),
    and calls of no group share the default one."""
    concurrency = max(1, options.max_concurrency)
    groups = dict(options.concurrency_groups)

    def group_of(task):
        return task.spec.concurrency_group if groups else ""

    if options.is_asyncio:
        import asyncio
        import threading
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="actor-loop", daemon=True).start()
        limits = {"": asyncio.Semaphore(concurrency)}
        limits.update({name: asyncio.Semaphore(n) for name, n in groups.items()})

        def watch_cancels():  # miniray.cancel of a running call
            w.core.enable_cancel_notices()
            while True:
                task_id = w.core.next_cancel_notice(-1.0)
                if task_id is None:
                    return
                executor.cancel_async_call(loop, task_id)

        threading.Thread(target=watch_cancels, name="actor-cancels", daemon=True).start()

        async def limited(task, limit):
            async with limit:
                await executor.execute_task_async(w, task)

        def run_async(w_, task):
            limit = limits.get(group_of(task), limits[""])
            return asyncio.run_coroutine_threadsafe(limited(task, limit), loop)
        return run_async
    if concurrency > 1 or groups:
        from concurrent.futures import ThreadPoolExecutor
        pools = {"": ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="actor")}
        pools.update({name: ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"actor-{name}")
                      for name, n in groups.items()})

        def run_threaded(w_, task):
            return pools.get(group_of(task), pools[""]).submit(executor.execute_task, w_, task)
        return run_threaded
    return executor.execute_task


def main():
    # Ctrl-C in the terminal reaches the whole process group; the driver
    # handles it. Workers end when the node goes away.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _setup_path()
    address = next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--address="))

    import _miniray_core
    from miniray._private import worker as worker_mod
    from miniray._private import executor

    # The job's worker_process_setup_hook, before this worker registers: if
    # it raises, the worker never starts and the job's tasks fail with
    # RuntimeEnvSetupError and this traceback (see the node's WorkerPool).
    from miniray._private import runtime_env
    runtime_env.run_setup_hook()

    w = worker_mod.global_worker
    # miniray.cancel: the CoreWorker signals the main thread once it has
    # recorded a request (installed first: SIGUSR2 would otherwise kill).
    signal.signal(signal.SIGUSR2, executor.on_cancel_signal(w))
    core = _miniray_core.CoreWorker.connect(address)
    core.set_cancel_signal(signal.SIGUSR2)
    _redirect_output(core)
    w.core = core
    w.mode = worker_mod.WORKER
    w.namespace = os.environ.get("MINIRAY_NAMESPACE", "default")
    w.job_runtime_env = json.loads(os.environ.get("MINIRAY_JOB_RUNTIME_ENV") or "{}")
    w.log_names = LogNames()
    try:
        run = executor.execute_task
        while True:
            request = core.next_task(-1.0)
            if request is None:  # the node is gone
                break
            task = executor.Task(core, request)
            del request
            if task.actor_creation:
                run = _actor_runner(w, executor, executor.create_actor(w, task))
                if w.actor_instance is not None:
                    w.log_names.actor(type(w.actor_instance).__name__)
            else:
                run(w, task)
            del task  # drop argument views now, not when the next task comes
    except BaseException:  # noqa: BLE001 - report, then exit
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        os._exit(0)


if __name__ == "__main__":
    main()
