#!/bin/sh
# Runs CPython's own tests of concurrent.interpreters and InterpreterPoolExecutor against
# subinterpreters (tests/cpython_suite/runner.py) and prints, per CPython version, the table of
# outcomes compared with tests/cpython_suite/expected.toml. Exit status 1 on any mismatch.
#
#   scripts/cpython-suite.sh                      # 3.14 and 3.15, problems only
#   scripts/cpython-suite.sh 3.15 -- -v           # one version, every test
#   scripts/cpython-suite.sh 3.14 -- -m test_queues -k Put
#   scripts/cpython-suite.sh 3.14 3.15 -- --save-dir out   # also out/outcomes-3.X.json, for
#       tests/cpython_suite/runner.py --write-expected draft.toml out/outcomes-3.14.json out/outcomes-3.15.json
#
# Needs .venv/py<version> with the package built (make python-test, or scripts/venv.sh). A version
# whose python is not on this machine runs inside ../shared/ci/newer-pythons.
set -eu
cd "$(dirname "$0")/.."
versions=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do versions="$versions $1"; shift; done
[ "${1:-}" = "--" ] && shift
versions=${versions:-"3.14 3.15"}
save_dir=""
if [ "${1:-}" = "--save-dir" ]; then save_dir=$2; shift 2; mkdir -p "$save_dir"; fi
status=0
for version in $versions; do
    python=.venv/py$version/bin/python
    if [ ! -x "$python" ] && [ ! -L "$python" ]; then  # (a dangling link when its python lives in newer-pythons)
        echo "cpython-suite: $python not found: build it first (make python-test PYTHON_VERSIONS=$version)" >&2
        status=1
        continue
    fi
    save=""
    [ -n "$save_dir" ] && save="--save $save_dir/outcomes-$version.json"
    if command -v "python$version" >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        "$python" tests/cpython_suite/runner.py $save "$@" || status=1
    else
        # shellcheck disable=SC2086
        ../shared/ci/newer-pythons run "$python" tests/cpython_suite/runner.py $save "$@" || status=1
    fi
done
exit $status
