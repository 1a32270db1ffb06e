"""Failures: task exceptions, propagation, worker crashes and retries."""
import os

import pytest

import miniray
from miniray.exceptions import RayTaskError, WorkerCrashedError

from conftest import wait_for


class MyError(Exception):
    def __init__(self, code):
        super().__init__(f"code {code}")
        self.code = code


@miniray.remote
def fail(code):
    raise MyError(code)


def test_exception_keeps_type_cause_and_traceback(ray_shared):
    with pytest.raises(MyError) as info:
        miniray.get(fail.remote(7))
    err = info.value
    assert isinstance(err, RayTaskError)
    assert isinstance(err.cause, MyError) and err.cause.code == 7
    assert err.code == 7  # attributes of the cause read through
    text = str(err)
    assert "Traceback" in text and "in fail" in text and "code 7" in text


def _helper_that_divides(x):
    return 1 / x  # the line the traceback must show


def test_remote_traceback_shows_the_users_file_line_and_code(ray_shared):
    @miniray.remote
    def divide_by(x):
        return _helper_that_divides(x)

    @miniray.remote
    def nested():
        return miniray.get(divide_by.remote(0))

    for ref, task in ((divide_by.remote(0), "divide_by"), (nested.remote(), "nested")):
        with pytest.raises(ZeroDivisionError) as info:
            miniray.get(ref)
        text = str(info.value)
        helper_line = _helper_that_divides.__code__.co_firstlineno + 1
        assert f'File "{__file__}", line {helper_line}, in _helper_that_divides' in text
        assert "return 1 / x  # the line the traceback must show" in text
        assert f"in {task}" in text
        assert "<dynamic-code>" not in text
        # No frame of miniray itself (the executor, get), as Ray shows none.
        assert "miniray/_private" not in text and "executor.py" not in text


def test_builtin_exception_type(ray_shared):
    @miniray.remote
    def divide(a, b):
        return a / b

    with pytest.raises(ZeroDivisionError):
        miniray.get(divide.remote(1, 0))


def test_error_propagates_through_dependent_tasks(ray_shared):
    @miniray.remote
    def plus_one(x):
        return x + 1

    r = plus_one.remote(plus_one.remote(fail.remote(3)))
    with pytest.raises(MyError) as info:
        miniray.get(r)
    assert info.value.cause.code == 3


def test_error_propagates_through_nested_get(ray_shared):
    @miniray.remote
    def outer():
        return miniray.get(fail.remote(5))

    with pytest.raises(MyError) as info:
        miniray.get(outer.remote())
    assert info.value.cause.code == 5
    assert "outer" in str(info.value)


def test_get_of_list_raises_first_error(ray_shared):
    ok = miniray.put(1)
    with pytest.raises(MyError):
        miniray.get([ok, fail.remote(1)])


def test_unpicklable_exception_still_reported(ray_shared):
    @miniray.remote
    def weird():
        import threading

        class Bad(Exception):
            def __init__(self):
                super().__init__("unpicklable")
                self.lock = threading.Lock()

        raise Bad()

    with pytest.raises(RayTaskError, match="unpicklable"):
        miniray.get(weird.remote())


def test_worker_crash_without_retries_raises_worker_crashed(ray_shared):
    @miniray.remote(max_retries=0)
    def die():
        os._exit(3)

    with pytest.raises(WorkerCrashedError, match="exited with code 3"):
        miniray.get(die.remote(), timeout=30)
    # The pool replaces the dead worker.
    assert miniray.get(miniray.remote(lambda: 1).remote(), timeout=30) == 1


def test_worker_crash_is_retried(ray_shared, tmp_path):
    marker = tmp_path / "attempts"

    @miniray.remote(max_retries=2)
    def flaky():
        n = int(marker.read_text()) if marker.exists() else 0
        marker.write_text(str(n + 1))
        if n == 0:
            os._exit(1)
        return "recovered"

    assert miniray.get(flaky.remote(), timeout=30) == "recovered"
    assert marker.read_text() == "2"


def test_retry_exceptions(ray_shared, tmp_path):
    marker = tmp_path / "tries"

    @miniray.remote(max_retries=3, retry_exceptions=True)
    def flaky():
        n = int(marker.read_text()) if marker.exists() else 0
        marker.write_text(str(n + 1))
        if n < 2:
            raise ValueError("not yet")
        return n

    assert miniray.get(flaky.remote()) == 2


def test_cancel_queued_task(ray_start):
    import time
    from miniray.exceptions import TaskCancelledError

    @miniray.remote
    def block(t):
        time.sleep(t)
        return t

    running = [block.remote(1.0), block.remote(1.0)]  # both CPUs busy
    queued = block.remote(0)
    miniray.cancel(queued)
    with pytest.raises(TaskCancelledError):
        miniray.get(queued, timeout=10)
    assert miniray.get(running) == [1.0, 1.0]


def test_a_cancel_right_after_submission_is_never_lost(ray_start, tmp_path):
    """Submit-then-cancel, many times: whether the cancel finds the task
    queued, on its way to a worker, about to start or running, the task
    never completes, get() says cancelled, and no CPU stays held."""
    import time
    from miniray.exceptions import TaskCancelledError
    finished = tmp_path / "finished"

    @miniray.remote
    def work(i):
        time.sleep(0.2)
        with open(finished, "a") as f:
            f.write(f"{i}\n")
        return i

    for i in range(150):
        ref = work.remote(i)
        if i % 3:
            time.sleep(0.0005 * (i % 7))  # land at different moments
        miniray.cancel(ref)
        with pytest.raises(TaskCancelledError):
            miniray.get(ref, timeout=30)
    assert miniray.get([work.remote(-1), work.remote(-2)], timeout=30) == [-1, -2]
    assert finished.read_text().split() in (["-1", "-2"], ["-2", "-1"])
    assert wait_for(lambda: miniray.available_resources().get("CPU") == 2.0)


def test_cancel_running_task_interrupts_it(ray_start):
    import time
    from miniray.exceptions import TaskCancelledError

    @miniray.remote(max_retries=3, retry_exceptions=True)
    def spin():
        try:
            while True:
                time.sleep(0.01)
        except Exception:  # a KeyboardInterrupt is not an Exception
            return "swallowed"

    r = spin.remote()
    time.sleep(0.5)  # let it start
    t = time.time()
    miniray.cancel(r)
    with pytest.raises(TaskCancelledError):
        miniray.get(r, timeout=10)
    assert time.time() - t < 5
    assert miniray.get(miniray.remote(lambda: "worker still fine").remote()) == "worker still fine"


def test_force_cancel_kills_the_worker_and_does_not_retry(ray_start):
    import time
    from miniray.exceptions import TaskCancelledError

    @miniray.remote(max_retries=5)
    def stuck():
        import signal
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # ignores polite cancels
        time.sleep(60)

    r = stuck.remote()
    time.sleep(0.5)
    miniray.cancel(r, force=True)
    with pytest.raises(TaskCancelledError, match="cancelled"):
        miniray.get(r, timeout=10)
    with pytest.raises(TypeError):
        miniray.cancel("nope")
    done = miniray.put(1)
    miniray.cancel(done)  # nothing to cancel: no effect
    assert miniray.get(done) == 1


def test_retry_exceptions_list_retries_only_listed_types(ray_shared, tmp_path):
    marker = tmp_path / "tries"

    @miniray.remote(max_retries=3, retry_exceptions=[KeyError])
    def flaky(exc_type):
        n = int(marker.read_text()) if marker.exists() else 0
        marker.write_text(str(n + 1))
        if n == 0:
            raise exc_type("first try")
        return n

    assert miniray.get(flaky.remote(KeyError)) == 1  # retried
    marker.unlink()
    with pytest.raises(ValueError, match="first try"):
        miniray.get(flaky.remote(ValueError))  # not listed: not retried
    assert marker.read_text() == "1"
    with pytest.raises(TypeError, match="exception classes"):
        flaky.options(retry_exceptions=["KeyError"]).remote(KeyError)


def test_recursive_cancel_reaches_child_tasks(ray_start, tmp_path):
    import time
    from miniray.exceptions import TaskCancelledError

    started = tmp_path / "child_started"

    @miniray.remote
    def child():
        started.write_text("yes")
        time.sleep(30)

    @miniray.remote
    def parent():
        ref = child.remote()
        return miniray.get(ref)

    p = parent.remote()
    deadline = time.time() + 10
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert started.exists()
    t = time.time()
    miniray.cancel(p)  # recursive by default: the child is interrupted too
    with pytest.raises(TaskCancelledError):
        miniray.get(p, timeout=10)
    assert time.time() - t < 5
    # Both workers are free again: two tasks run side by side.
    assert miniray.get([miniray.remote(lambda: 1).remote() for _ in range(2)], timeout=10) == [1, 1]
