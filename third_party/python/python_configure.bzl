"""Repository rule: the local Python interpreter, its headers and pybind11.

Bazel cannot download rules_python or pybind11_bazel here, so this rule asks
the interpreter itself where things are and builds a small repository:

  @local_python//:python_headers    Python.h and friends
  @local_python//:pybind11          pybind11's headers (from pip)
  @local_python//:python_toolchain  a py_runtime for that same interpreter,
                                    so py_test runs with the packages that
                                    requirements.txt installed.
  @local_python//:defs.bzl          PYTHON_INTERPRETER, PYTHON_TAG (cp311)

The interpreter is $MINIRAY_PYTHON (./bazelw sets it), else python3 on PATH.
"""

def _python_configure_impl(ctx):
    python = ctx.os.environ.get("MINIRAY_PYTHON", "")
    if not python:
        python = ctx.which("python3")
    if not python:
        fail("python_configure: no python3 found; set MINIRAY_PYTHON")
    script = "\n".join([
        "import sys, sysconfig",
        "print(sys.executable)",
        "print('cp%d%d' % sys.version_info[:2])",
        "print(sysconfig.get_paths()['include'])",
        "try:",
        "    import pybind11; print(pybind11.get_include())",
        "except ImportError:",
        "    print('')",
    ])
    result = ctx.execute([str(python), "-c", script])
    if result.return_code != 0:
        fail("python_configure: %s failed: %s" % (python, result.stderr))
    executable, python_tag, include, pybind11_include = result.stdout.strip().split("\n")
    if not pybind11_include:
        fail("python_configure: pybind11 is not installed for %s; run ./bazelw" % executable)
    ctx.symlink(include, "python_include")
    ctx.symlink(pybind11_include, "pybind11_include")
    ctx.file("BUILD.bazel", """
load("@bazel_tools//tools/python:toolchain.bzl", "py_runtime_pair")

package(default_visibility = ["//visibility:public"])

cc_library(
    name = "python_headers",
    hdrs = glob(["python_include/**/*.h"]),
    includes = ["python_include"],
)

cc_library(
    name = "pybind11",
    hdrs = glob(["pybind11_include/**/*.h"]),
    includes = ["pybind11_include"],
    deps = [":python_headers"],
)

py_runtime(
    name = "python3_runtime",
    interpreter_path = "{executable}",
    python_version = "PY3",
)

py_runtime_pair(
    name = "runtime_pair",
    py3_runtime = ":python3_runtime",
)

toolchain(
    name = "python_toolchain",
    toolchain = ":runtime_pair",
    toolchain_type = "@bazel_tools//tools/python:toolchain_type",
)

exports_files(["interpreter.txt"])
""".format(executable = executable))
    ctx.file("interpreter.txt", executable + "\n")

    # Constants for BUILD files (the wheel's name and the interpreter).
    ctx.file("defs.bzl", """PYTHON_INTERPRETER = "{executable}"
PYTHON_TAG = "{tag}"
""".format(executable = executable, tag = python_tag))

python_configure = repository_rule(
    implementation = _python_configure_impl,
    environ = ["MINIRAY_PYTHON", "PATH"],
    local = True,
)
