"""runtime_env: the environment a job, task or actor runs in (as Ray's).

Supported keys:

    env_vars      {"NAME": "value"}: set while the task runs (an actor: for
                  its life); merged with the job's, the task's win.
    working_dir   a local directory: the task's cwd, first on sys.path.
    py_modules    local packages (directories) or .py files, or imported
                  modules: importable in the task.
    pip           requirements (["pkg==1.0", "/path/to/x.whl"], or
                  {"packages": [...]}, or a requirements.txt path):
                  installed once per requirement set with this machine's
                  pip into a cached directory (under
                  $TMPDIR/miniray/runtime_resources/pip) that the task
                  imports from. A failed install fails the task with
                  RuntimeEnvSetupError, as Ray's does.

    worker_process_setup_hook
                  (job level only: init(runtime_env=...)) a function, or
                  "module.function", run once in each worker process as it
                  starts; one that raises makes the job's tasks fail with
                  RuntimeEnvSetupError (with its traceback).

conda, container and image_uri are refused with a clear error (miniray has
no conda or container support); any other key is refused too.

Ray starts dedicated worker processes per runtime_env; miniray applies it
inside the worker around each task (an actor: for its life) and undoes it
after, so one pool of workers serves every environment: env_vars and cwd
are restored, the added sys.path entries removed, and the modules imported
from them forgotten (sys.modules), so the next task does not see them.
"""
import fcntl
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from typing import Any, Dict, List

from miniray import exceptions

SUPPORTED = ("env_vars", "working_dir", "py_modules", "pip", "worker_process_setup_hook")
SETUP_HOOK = "worker_process_setup_hook"
_REFUSED = {
    "conda": "conda environments are not supported by miniray; use 'pip'",
    "container": "containers are not supported by miniray",
    "image_uri": "container images are not supported by miniray",
    "uv": "uv is not supported by miniray; use 'pip'",
}


def validate(env: Any, where: str = "runtime_env", job_level: bool = False) -> Dict[str, Any]:
    """The runtime_env checked and made plain JSON (absolute paths, module
    objects as paths), but for a job's setup hook (see setup_hook_env).
    Raises TypeError/ValueError naming the key."""
    if env is None:
        return {}
    if not isinstance(env, dict):
        raise TypeError(f"{where} must be a dict, got {type(env).__name__}")
    out: Dict[str, Any] = {}
    for key, value in env.items():
        if key in _REFUSED:
            raise ValueError(f"{where}[{key!r}]: {_REFUSED[key]}")
        if key not in SUPPORTED:
            raise ValueError(f"{where} has an unknown key {key!r}; miniray supports "
                             f"{', '.join(SUPPORTED)}")
        if value is None:
            continue
        if key == SETUP_HOOK:
            if not job_level:
                raise ValueError(f"{where}[{key!r}] is only supported for a whole job: "
                                 "pass it to init(runtime_env=...)")
            if not (callable(value) or isinstance(value, str)):
                raise TypeError(f"{where}[{key!r}] must be a function or a "
                                f"'module.function' string, got {value!r}")
            out[key] = value
            continue
        out[key] = _VALIDATORS[key](value, f"{where}[{key!r}]")
    return out


def setup_hook_env(env: Dict[str, Any]) -> Dict[str, str]:
    """The worker environment variable that carries a job's setup hook
    (pickled, or its "module.function" name), and the runtime_env without
    it (what tasks inherit)."""
    hook = env.pop(SETUP_HOOK, None)
    if hook is None:
        return {}
    if isinstance(hook, str):
        return {"MINIRAY_SETUP_HOOK": "name:" + hook}
    import base64
    from miniray._private import serialization
    pickled = serialization.pickle_code(hook, "worker_process_setup_hook")
    return {"MINIRAY_SETUP_HOOK": "pickle:" + base64.b64encode(pickled).decode()}


def run_setup_hook() -> None:
    """In a starting worker process: runs the job's setup hook, if any."""
    spec = os.environ.pop("MINIRAY_SETUP_HOOK", "")
    if not spec:
        return
    kind, _, data = spec.partition(":")
    if kind == "name":
        module, _, attr = data.rpartition(".")
        hook = getattr(importlib.import_module(module), attr)
    else:
        import base64
        import pickle
        hook = pickle.loads(base64.b64decode(data))
    hook()


def _env_vars(value, where):
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError(f"{where} must be a dict of str to str, got {value!r}")
    return dict(value)


def _directory(value, where):
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{where} must be a local directory path, got {value!r}")
    path = os.path.abspath(os.fspath(value))
    if not os.path.isdir(path):
        raise ValueError(f"{where}: {path} is not a directory (miniray takes local "
                         "directories, not URIs or zip files)")
    return path


def _py_modules(value, where):
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{where} must be a list of paths or modules, got {value!r}")
    paths = []
    for item in value:
        if isinstance(item, types.ModuleType):
            item = os.path.dirname(item.__file__) if item.__file__.endswith(
                "__init__.py") else item.__file__
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"{where}: {item!r} is neither a path nor a module")
        path = os.path.abspath(os.fspath(item))
        if not (os.path.isdir(path) or (os.path.isfile(path) and path.endswith(".py"))):
            raise ValueError(f"{where}: {path} is not a package directory or a .py file")
        paths.append(path)
    return paths


def _pip(value, where):
    if isinstance(value, dict):
        value = value.get("packages")
    if isinstance(value, str):  # a requirements.txt
        if not os.path.isfile(value):
            raise ValueError(f"{where}: {value} is not a requirements file")
        with open(value) as f:
            value = [line.split("#", 1)[0].strip() for line in f]
        value = [line for line in value if line]
    if not isinstance(value, (list, tuple)) or not all(isinstance(r, str) for r in value):
        raise TypeError(f"{where} must be a list of requirements, {{'packages': [...]}} "
                        f"or a requirements.txt path, got {value!r}")
    return list(value)


_VALIDATORS = {"env_vars": _env_vars, "working_dir": _directory,
               "py_modules": _py_modules, "pip": _pip}


def merge(parent: Dict[str, Any], child: Dict[str, Any]) -> Dict[str, Any]:
    """The child's runtime_env over its parent's (the job's), as Ray merges:
    env_vars key by key, other keys replaced whole."""
    merged = dict(parent)
    for key, value in child.items():
        if key == "env_vars":
            merged[key] = {**parent.get("env_vars", {}), **value}
        else:
            merged[key] = value
    return merged


def per_task_part(job_env: Dict[str, Any]) -> Dict[str, Any]:
    """What of a job's runtime_env each task must apply itself: not its
    env_vars and working_dir, which its workers get when they start."""
    return {k: v for k, v in job_env.items() if k not in ("env_vars", "working_dir")}


def to_json(env: Dict[str, Any]) -> str:
    return json.dumps(env) if env else ""


class Applied:
    """Applies a (validated) runtime_env in this worker process while a task
    runs; undoes it on exit. An actor enters it for good."""

    def __init__(self, env: Dict[str, Any]):
        self.env = env
        self.saved_vars: Dict[str, Any] = {}
        self.added_paths: List[str] = []
        self.saved_cwd = None

    def __enter__(self):
        env = self.env
        for k, v in env.get("env_vars", {}).items():
            self.saved_vars[k] = os.environ.get(k)
            os.environ[k] = str(v)
        paths = []
        if env.get("working_dir"):
            self.saved_cwd = os.getcwd()
            os.chdir(env["working_dir"])
            paths.append(env["working_dir"])
        for module in env.get("py_modules", ()):
            paths.append(os.path.dirname(module))  # `import name` finds it there
        if env.get("pip"):
            paths.append(ensure_pip_packages(env["pip"]))
        if paths:
            self.added_paths = paths
            sys.path[0:0] = paths
            importlib.invalidate_caches()
        return self

    def __exit__(self, *exc):
        for path in self.added_paths:
            try:
                sys.path.remove(path)
            except ValueError:
                pass
        if self.added_paths:
            prefixes = tuple(os.path.join(p, "") for p in self.added_paths)
            for name, module in list(sys.modules.items()):
                if (getattr(module, "__file__", None) or "").startswith(prefixes):
                    del sys.modules[name]
        if self.saved_cwd is not None:
            os.chdir(self.saved_cwd)
        for k, old in self.saved_vars.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


def pip_cache_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "miniray", "runtime_resources", "pip")


def ensure_pip_packages(requirements: List[str]) -> str:
    """The directory holding `requirements`, installed by pip on first use
    (one process installs at a time, under the cache's one file lock;
    others then reuse it). A failed install leaves nothing behind."""
    key = hashlib.sha256(json.dumps(requirements).encode()).hexdigest()[:16]
    root = pip_cache_dir()
    target = os.path.join(root, key)
    ready = os.path.join(target, ".miniray-ready")
    if os.path.exists(ready):
        return target
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".install.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(ready):
            return target
        partial = target + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-input", "--target", partial, *requirements],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
        if proc.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
            raise exceptions.RuntimeEnvSetupError(
                f"runtime_env pip: could not install {requirements} (pip exited with "
                f"{proc.returncode}):\n{tail}")
        os.rename(partial, target)
        open(ready, "w").close()
    return target
