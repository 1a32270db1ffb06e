"""Project macros: every miniray target goes through one of these, so the
shared compiler flags, test dependencies and extension shape live here only."""

MINIRAY_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
]

def miniray_cc_library(name, copts = [], **kwargs):
    """A C++ component of the core. Headers are included by their path from
    cpp/src (e.g. "object_store/object_store.h")."""
    native.cc_library(
        name = name,
        copts = MINIRAY_COPTS + copts,
        strip_include_prefix = "/cpp/src",
        **kwargs
    )

def miniray_cc_test(name, deps = [], copts = [], **kwargs):
    """A GoogleTest test beside the code it tests."""
    native.cc_test(
        name = name,
        copts = MINIRAY_COPTS + copts,
        deps = deps + ["@com_google_googletest//:gtest_main"],
        **kwargs
    )

def miniray_py_extension(name, srcs = [], deps = [], **kwargs):
    """A pybind11 extension module: `name`.so, loadable by `import name`."""
    native.cc_binary(
        name = name + ".so",
        srcs = srcs,
        copts = MINIRAY_COPTS + ["-fvisibility=hidden"],
        linkshared = True,
        linkstatic = True,
        deps = deps + ["@local_python//:pybind11"],
        **kwargs
    )

def miniray_py_test(name, src, deps = [], data = [], size = "medium", **kwargs):
    """A pytest file run by `bazel test`; the same file runs under plain pytest."""
    native.py_test(
        name = name,
        srcs = [src, "//bazel:pytest_main.py"],
        main = "//bazel:pytest_main.py",
        python_version = "PY3",
        deps = deps,
        data = data,
        size = size,
        env = {"MINIRAY_TEST_SRC": native.package_name() + "/" + src},
        # No implicit __init__.py: test dirs stay plain dirs, as under pytest.
        legacy_create_init = False,
        **kwargs
    )

def miniray_proto_library(name, srcs, deps = [], grpc = False):
    """C++ code generated from proto3 files by Debian's protoc (no downloads).

    The files live under cpp/src/<package>/ and import each other by that
    path ("protobuf/common.proto"); dependents include "protobuf/x.pb.h"
    (and "protobuf/x.grpc.pb.h" with grpc = True)."""
    hdrs, cc_srcs = [], []
    for src in srcs:
        base = src[:-len(".proto")]
        hdrs.append(base + ".pb.h")
        cc_srcs.append(base + ".pb.cc")
        if grpc:
            hdrs.append(base + ".grpc.pb.h")
            cc_srcs.append(base + ".grpc.pb.cc")
    protoc = "@system_libs//:bin/protoc"
    plugin = "@system_libs//:bin/grpc_cpp_plugin"
    tools = [protoc]
    cmd = "$(location %s) --proto_path=cpp/src --cpp_out=$(GENDIR)/cpp/src" % protoc
    if grpc:
        tools.append(plugin)
        cmd += " --grpc_out=$(GENDIR)/cpp/src --plugin=protoc-gen-grpc=$(location %s)" % plugin
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = hdrs + cc_srcs,
        tools = tools,
        cmd = cmd + " " + " ".join(["$(location %s)" % s for s in srcs]),
    )
    native.filegroup(name = name + "_srcs", srcs = srcs + [d + "_srcs" for d in deps])
    native.cc_library(
        name = name,
        srcs = cc_srcs,
        hdrs = hdrs,
        strip_include_prefix = "/cpp/src",
        deps = deps + ["@system_libs//:grpc++" if grpc else "@system_libs//:protobuf"],
    )
