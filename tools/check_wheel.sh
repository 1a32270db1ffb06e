#!/usr/bin/env bash
# Installs miniray from this checkout with `pip install` (the PEP 517 backend
# in tools/miniray_build.py builds the wheel with Bazel) into a fresh venv,
# then runs the acceptance snippet, a remote task and the `miniray` command
# from a directory outside the repository.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./bazelw build //python:wheel  # the interpreter the wheel is built for:
python="$(cat "$(./bazelw info output_base 2>/dev/null)/external/local_python/interpreter.txt")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv "$tmp/venv"
# cloudpickle (a declared dependency) and numpy (the [numpy] extra) come
# from the index; miniray itself is built from this checkout.
"$tmp/venv/bin/pip" install -q "$root[numpy]" 2>&1 | grep -v "^WARNING" || true
"$tmp/venv/bin/pip" show miniray | grep "^Requires: cloudpickle" >/dev/null
cd "$tmp"
"$tmp/venv/bin/python" - <<'PY'
import _miniray_core
import _miniray_net  # gRPC between nodes: its own extension, in the wheel too
import miniray
import numpy as np

assert "site-packages" in miniray.__file__, miniray.__file__
store = _miniray_core.ObjectStore()
ref = store.put(b"hello")
data = store.get(ref)
assert data == b"hello"
view = np.frombuffer(store.get(store.put(np.arange(1_000_000))), dtype=np.int64)
assert view[-1] == 999_999 and not view.flags.writeable

@miniray.remote
def add(a, b):
    return a + b

miniray.init(num_workers=2)
assert miniray.get(add.remote(1, 2)) == 3
assert sum(miniray.get([add.remote(i, i) for i in range(100)])) == 9900
miniray.shutdown()
print("wheel check: installed", miniray.__file__, "- acceptance snippet and tasks pass")
PY
# The console script: a cluster from the installed `miniray` command.
temp="$tmp/cluster"
port="$("$tmp/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
trap '"$tmp/venv/bin/miniray" stop --temp-dir "$temp" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
"$tmp/venv/bin/miniray" start --head --port "$port" --num-cpus 1 --temp-dir "$temp" >/dev/null
MINIRAY_TEMP_DIR="$temp" "$tmp/venv/bin/python" -c '
import miniray
miniray.init(address="auto")
assert miniray.get(miniray.remote(lambda: 7).remote()) == 7
print("wheel check: a driver attached to `miniray start --head` runs tasks")'
status="$("$tmp/venv/bin/miniray" status --temp-dir "$temp")"
grep -q "(127.0.0.1, head)" <<<"$status"
"$tmp/venv/bin/miniray" stop --temp-dir "$temp"
