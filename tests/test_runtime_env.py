"""runtime_env at job, task and actor level: env_vars, working_dir,
py_modules and pip; the keys miniray refuses; init's logging options."""
import hashlib
import json
import logging
import os
import shutil
import zipfile

import pytest

import miniray
from miniray._private import runtime_env
from miniray.exceptions import RuntimeEnvSetupError


def make_package(root, name, value):
    os.makedirs(root / name)
    (root / name / "__init__.py").write_text(f"VALUE = {value!r}\n")
    return str(root / name)


def make_wheel(directory, name, value):
    """A pure-Python wheel on disk, so that pip needs no network."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": f"VALUE = {value!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{dist}/RECORD,,\n"
    path = directory / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for n, text in files.items():
            z.writestr(n, text)
    return str(path)


@miniray.remote
def probe(module_name):
    import importlib
    try:
        value = importlib.import_module(module_name).VALUE
    except ImportError:
        value = None
    return value, os.getcwd(), os.environ.get("WHO"), os.environ.get("JOB_ONLY")


def test_working_dir_py_modules_and_env_vars_per_task(no_runtime, tmp_path):
    job_dir = tmp_path / "job"
    task_dir = tmp_path / "task"
    job_dir.mkdir()
    task_dir.mkdir()
    package = make_package(tmp_path / "lib", "rt_pkg_a", "from py_modules")
    miniray.init(num_cpus=1, runtime_env={"working_dir": str(job_dir),
                                          "env_vars": {"WHO": "job", "JOB_ONLY": "yes"}})
    env = {"working_dir": str(task_dir), "py_modules": [package], "env_vars": {"WHO": "task"}}
    assert miniray.get(probe.options(runtime_env=env).remote("rt_pkg_a")) == (
        "from py_modules", str(task_dir), "task", "yes")  # env_vars merged over the job's
    # The next task on the same worker runs in the job's environment again.
    assert miniray.get(probe.remote("rt_pkg_a"))[1:] == (str(job_dir), "job", "yes")


def test_an_actor_keeps_its_runtime_env_for_life(no_runtime, tmp_path):
    package = make_package(tmp_path, "rt_pkg_b", 7)

    @miniray.remote(runtime_env={"py_modules": [package], "working_dir": str(tmp_path),
                                 "env_vars": {"WHO": "actor"}})
    class Holder:
        def look(self):
            import rt_pkg_b
            return rt_pkg_b.VALUE, os.getcwd(), os.environ["WHO"]

    miniray.init(num_cpus=1)
    h = Holder.remote()
    assert miniray.get([h.look.remote(), h.look.remote()]) == [(7, str(tmp_path), "actor")] * 2


def test_pip_installs_once_per_requirement_set(no_runtime, tmp_path):
    wheel = make_wheel(tmp_path, "rt_wheel_c", "from pip")
    cache = os.path.join(runtime_env.pip_cache_dir(), hashlib.sha256(
        json.dumps([wheel]).encode()).hexdigest()[:16])
    miniray.init(num_cpus=2)
    try:
        env = {"pip": [wheel]}
        results = miniray.get([probe.options(runtime_env=env).remote("rt_wheel_c")
                               for _ in range(4)])
        assert [r[0] for r in results] == ["from pip"] * 4
        assert os.path.exists(os.path.join(cache, ".miniray-ready"))
        assert miniray.get(probe.remote("rt_wheel_c"))[0] is None  # only where asked for
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        assert not os.path.exists(cache + ".partial")


def test_a_failed_pip_install_is_a_runtime_env_setup_error(no_runtime, tmp_path):
    miniray.init(num_cpus=1)
    missing = str(tmp_path / "missing-1.0-py3-none-any.whl")
    with pytest.raises(RuntimeEnvSetupError, match="could not install"):
        miniray.get(probe.options(runtime_env={"pip": [missing]}).remote("x"), timeout=120)
    assert not [n for n in os.listdir(runtime_env.pip_cache_dir()) if n.endswith(".partial")]
    assert miniray.get(probe.remote("no_such_module"))[0] is None  # the worker is fine


def test_unsupported_keys_and_options_are_refused_clearly(no_runtime, tmp_path):
    with pytest.raises(ValueError, match="conda environments are not supported"):
        probe.options(runtime_env={"conda": "env"})
    with pytest.raises(ValueError, match="containers are not supported"):
        probe.options(runtime_env={"container": {"image": "x"}})
    with pytest.raises(ValueError, match="unknown key 'pipp'"):
        probe.options(runtime_env={"pipp": ["x"]})
    with pytest.raises(ValueError, match="is not a directory"):
        probe.options(runtime_env={"working_dir": str(tmp_path / "nowhere")})
    with pytest.raises(TypeError, match="env_vars"):
        probe.options(runtime_env={"env_vars": {"A": 1}})
    with pytest.raises(ValueError, match=r"local_mode=True\) is not supported"):
        miniray.init(local_mode=True)
    with pytest.raises(ValueError, match="conda"):
        miniray.init(runtime_env={"conda": "x"})
    assert not miniray.is_initialized()


def test_logging_level_configures_the_miniray_logger(no_runtime):
    miniray.init(num_cpus=1, logging_level=logging.WARNING)
    assert logging.getLogger("miniray").level == logging.WARNING


def test_worker_process_setup_hook_runs_once_in_each_worker(no_runtime, tmp_path):
    marker = tmp_path / "hooked"

    def hook():
        with open(marker, "a") as f:
            f.write(f"{os.getpid()}\n")
        os.environ["HOOKED"] = "yes"

    @miniray.remote
    def where():
        return os.getpid(), os.environ.get("HOOKED")

    miniray.init(num_cpus=2, runtime_env={"worker_process_setup_hook": hook})
    results = miniray.get([where.remote() for _ in range(20)])
    assert {hooked for _, hooked in results} == {"yes"}
    hooked_pids = marker.read_text().split()
    assert len(hooked_pids) == len(set(hooked_pids))  # once per process
    assert {str(pid) for pid, _ in results} <= set(hooked_pids)
    with pytest.raises(ValueError, match="only supported for a whole job"):
        where.options(runtime_env={"worker_process_setup_hook": hook})


def test_a_failing_setup_hook_fails_the_jobs_tasks_clearly(no_runtime):
    def broken_hook():
        raise RuntimeError("the setup hook is broken")

    @miniray.remote
    def anything():
        return 1

    miniray.init(num_cpus=1, runtime_env={"worker_process_setup_hook": broken_hook})
    with pytest.raises(RuntimeEnvSetupError, match="the setup hook is broken"):
        miniray.get(anything.remote(), timeout=60)
