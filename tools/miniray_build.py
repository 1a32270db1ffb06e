"""miniray's PEP 517 build backend: `pip install .` builds with Bazel.

As Ray's setup.py does, the native core is built by the project's own build
system, not by setuptools: build_wheel() runs `./bazelw build //python:wheel`
in this source tree (the same build the README's commands use, so a checkout
that was built already is reused) and hands pip the wheel Bazel wrote.
pyproject.toml names this module with `backend-path = ["tools"]`.

Two things make this differ from running ./bazelw by hand:

- pip runs a backend inside its build isolation: PYTHONPATH points at an
  overlay whose sitecustomize hides the interpreter's own site-packages.
  Bazel's Python must see its real packages (pybind11), so the overlay is
  removed from the environment ./bazelw gets.
- `pip install git+URL` builds in a temporary clone; Bazel's output base
  and server for that clone would be left behind, so they are expunged once
  the wheel is copied out.
"""
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSION = "0.1.0"  # the same as python/BUILD.bazel's MINIRAY_VERSION


def get_requires_for_build_wheel(config_settings=None):
    return []  # Bazel and the C++ toolchain come from ./bazelw, not from pip


def get_requires_for_build_sdist(config_settings=None):
    return []


def _bazel_env():
    """The environment without pip's isolation overlay."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONNOUSERSITE"):
        env.pop(name, None)
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if "pip-build-env-" not in p)
    return env


def _bazelw(*args, capture=False):
    # Bazel's progress goes to stderr, which pip shows with -v; stdout of a
    # backend is pip's own channel, so nothing is printed there.
    result = subprocess.run([os.path.join(ROOT, "bazelw"), *args], cwd=ROOT, env=_bazel_env(),
                            stdout=subprocess.PIPE if capture else sys.stderr, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"miniray: `./bazelw {' '.join(args)}` failed "
                           f"(exit {result.returncode}); run it in {ROOT} to see why")
    return result.stdout


def _in_temporary_clone() -> bool:
    """A clone pip made for `pip install git+URL` (pip-req-build-*), or an
    sdist that `python -m build` unpacked (build-via-sdist-*), in the
    temporary directory: gone after this build, so its Bazel state goes."""
    root = os.path.realpath(ROOT)
    tmp = os.path.realpath(tempfile.gettempdir())
    names = (os.path.basename(root), os.path.basename(os.path.dirname(root)))
    return root.startswith(tmp + os.sep) and any(
        n.startswith(("pip-req-build-", "build-via-sdist-")) for n in names)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _bazelw("build", "//python:wheel")
    bazel_bin = _bazelw("info", "bazel-bin", capture=True).strip()
    wheels = glob.glob(os.path.join(bazel_bin, "python", f"miniray-{VERSION}-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"miniray: expected one wheel in {bazel_bin}/python, found {wheels}")
    wheel = wheels[0]
    # The extension module is built for Bazel's interpreter: it must be the
    # version pip is installing for.
    tag = "cp%d%d" % sys.version_info[:2]
    if f"-{tag}-{tag}-" not in os.path.basename(wheel):
        raise RuntimeError(
            f"miniray: Bazel built {os.path.basename(wheel)} but pip is installing for "
            f"{tag} ({sys.executable}); set MINIRAY_PYTHON to a Python "
            f"{sys.version_info[0]}.{sys.version_info[1]} interpreter and run pip again")
    name = os.path.basename(wheel)
    dest = os.path.join(wheel_directory, name)
    shutil.copyfile(wheel, dest)
    os.chmod(dest, 0o644)  # Bazel's outputs are read-only
    if _in_temporary_clone():
        _bazelw("clean", "--expunge")  # also stops that output base's server
    return name


def build_sdist(sdist_directory, config_settings=None):
    """A tarball of the files git tracks (what a fresh clone holds)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                           stdout=subprocess.PIPE).stdout.decode().split("\0")
    base = f"miniray-{VERSION}"
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for path in filter(None, files):
            tar.add(os.path.join(ROOT, path), arcname=f"{base}/{path}", recursive=False)
    return name
