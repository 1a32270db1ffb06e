#!/usr/bin/env bash
# The type-check step: miniray installed with pip into a fresh venv, then
# mypy and pyright (what VS Code uses; from npm, run by Debian's nodejs) on
# tests/typing/typed_program.py. Each checker must accept every line of it
# except those marked "# planted:", and report each of those; then the
# program runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
MYPY_VERSION=2.4.1
PYRIGHT_VERSION=1.1.414
program="$root/tests/typing/typed_program.py"

if ! command -v npm >/dev/null 2>&1; then
  echo "check_types: installing nodejs and npm from Debian" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q nodejs npm
fi
./bazelw build //python:wheel
python="$(cat "$(./bazelw info output_base 2>/dev/null)/external/local_python/interpreter.txt")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q "$root" "mypy==$MYPY_VERSION" 2>&1 | grep -v "^WARNING" || true
(cd "$tmp" && npm install --silent --no-audit --no-fund "pyright@$PYRIGHT_VERSION" >/dev/null)

expected="$(grep -n "  # planted: " "$program" | cut -d: -f1 | sort -n | tr '\n' ' ')"
cd "$tmp"  # outside the checkout: the checkers see the installed package
mypy_out="$("$tmp/venv/bin/mypy" --no-error-summary --cache-dir "$tmp/mypy_cache" \
  "$program" 2>&1 || true)"
mypy_lines="$(sed -n 's/^[^:]*:\([0-9]*\): error:.*/\1/p' <<<"$mypy_out" | sort -un | tr '\n' ' ')"
echo "{\"venvPath\": \"$tmp\", \"venv\": \"venv\"}" > "$tmp/pyrightconfig.json"
pyright_out="$("$tmp/node_modules/.bin/pyright" -p "$tmp/pyrightconfig.json" "$program" 2>&1 || true)"
pyright_lines="$(sed -n 's/^ *[^ ]*:\([0-9]*\):[0-9]* - error:.*/\1/p' <<<"$pyright_out" | sort -un | tr '\n' ' ')"

status=0
for checker in mypy pyright; do
  lines_var="${checker}_lines"
  out_var="${checker}_out"
  if [ "${!lines_var}" = "$expected" ]; then
    echo "check_types: $checker reports exactly the planted errors (lines $expected)"
  else
    echo "check_types: $checker reported errors on lines [${!lines_var}], expected [$expected]:"
    echo "${!out_var}"
    status=1
  fi
done
"$tmp/venv/bin/python" "$program"
exit "$status"
