"""system_libs: Debian's protobuf, gRPC and hiredis as Bazel targets.

Headers are in /usr/include, which the autodetected C++ toolchain already
searches, so each library is only its link flags, asked of pkg-config once
when the repository is set up. gRPC's generated code calls abseil directly,
so `-lgrpc++ -lprotobuf` alone does not link; pkg-config's full list does.
The compilers (protoc, grpc_cpp_plugin) are linked in as tools.
"""

def _libs(ctx, modules):
    r = ctx.execute(["pkg-config", "--libs"] + modules)
    if r.return_code != 0:
        fail("pkg-config %s: %s (./bazelw installs the Debian packages)" %
             (" ".join(modules), r.stderr))
    flags = []
    for f in r.stdout.strip().split(" "):
        if f and f not in flags:  # pkg-config repeats absl libs; once is enough for .so
            flags.append(f)
    return flags

def _system_libs_impl(ctx):
    for tool in ["protoc", "grpc_cpp_plugin"]:
        path = ctx.which(tool)
        if path == None:
            fail("%s not found (./bazelw installs protobuf-compiler and protobuf-compiler-grpc)" % tool)
        ctx.symlink(path, "bin/" + tool)
    ctx.file("BUILD.bazel", """package(default_visibility = ["//visibility:public"])
cc_library(name = "protobuf", linkopts = %r)
cc_library(name = "grpc++", linkopts = %r)
cc_library(name = "hiredis", linkopts = %r)
exports_files(["bin/protoc", "bin/grpc_cpp_plugin"])
""" % (_libs(ctx, ["protobuf"]), _libs(ctx, ["grpc++", "protobuf"]), _libs(ctx, ["hiredis"])))

system_libs = repository_rule(
    implementation = _system_libs_impl,
    environ = ["PATH", "PKG_CONFIG_PATH"],
    local = True,
)
