#!/bin/sh
# Makes (or refreshes) .venv/py<version> for the given interpreter and builds the package into it
# with `pip install .`. Prints the venv's python path on the last line.
# Usage: scripts/venv.sh <version> <python> [extra pip requirements...]
# VENV=<folder> uses another venv (make memcheck builds one with debug info there).
set -eu
version=$1; python=$2; shift 2
venv=${VENV:-.venv/py$version}
if [ ! -x "$venv/bin/python" ]; then
    echo ">> creating $venv with $python" >&2
    "$python" -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check maturin==1.16.0 pytest pytest-timeout "$@" >&2
echo ">> building subinterpreters into $venv (pip install .)" >&2
# One cargo target folder per CPython version: switching versions then rebuilds nothing, and a
# build made inside ../shared/ci/newer-pythons (a newer glibc) never leaves build scripts there
# that the host's glibc cannot run.
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/py$version} PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps . >&2
echo "$venv/bin/python"
