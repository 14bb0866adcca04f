#!/bin/sh
# Memory errors under valgrind memcheck (AddressSanitizer needs nightly Rust's -Zsanitizer;
# valgrind works with the stable toolchain), in two parts:
#
# 1. The core: every test binary of subinterpreters-core (unit tests and tests/*.rs, not the loom
#    models, which only compile under --cfg loom), built into target/memcheck, each run under
#      valgrind --error-exitcode=1 --leak-check=full
#    with scripts/memcheck.supp (allocations the Rust test harness keeps for the life of the
#    process), then the fuzz driver (fuzz/) for MEMCHECK_FUZZ_ITERATIONS random inputs of each
#    target (queue/channel operation sequences, structured-format buffers and values; default
#    3000; 0 skips it). Invalid reads and writes, uses of uninitialised memory, double frees and
#    leaks fail the run.
# 2. The binding: for each CPython of MEMCHECK_PYTHON_VERSIONS (default "3.13"; "3.12 3.13" for
#    both, 0 or an empty list skips this part), the package is built with debug info into .venv/memcheck-py<version>
#    and a selection of the Python suite (MEMCHECK_PYTEST, below) runs under valgrind with
#    PYTHONMALLOC=malloc (so every Python object is a malloc block valgrind watches), following
#    the child processes the exit tests start, with scripts/memcheck-python.supp. Logs, one per
#    process: target/memcheck/py<version>/. scripts/memcheck_report.py then fails the run on any
#    memcheck error in any process, or on a block definitely lost that the binding allocated.
#
# Exits non-zero at the first part that fails. docs/reliability.md shows how to see it catch a
# planted use-after-free (scripts/memcheck-demo/).
set -eu
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
    echo "memcheck: valgrind not found (apt-get install valgrind)" >&2
    exit 2
fi

target_dir=target/memcheck
valgrind_flags="--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible --suppressions=scripts/memcheck.supp --quiet"

echo ">> building the core's test binaries into $target_dir"
binaries=$(cargo test -p subinterpreters-core --no-run --target-dir "$target_dir" --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["profile"]["test"]:
        if msg["target"]["name"] != "loom":
            print(msg["target"]["name"] + " " + msg["executable"])
')
if [ -z "$binaries" ]; then
    echo "memcheck: no test binaries built (run: cargo test -p subinterpreters-core --no-run)" >&2
    exit 2
fi

failed=""
count=0
start=$(date +%s)
echo "$binaries" | {
    while read -r name binary; do
        count=$((count + 1))
        printf '>> valgrind %-14s ' "$name"
        log="$target_dir/valgrind-$name.log"
        t0=$(date +%s)
        # --test-threads=2: the tests' own threads still run concurrently (valgrind serialises them).
        if valgrind $valgrind_flags "$binary" --test-threads=2 >"$log" 2>&1; then
            summary=$(grep -E '^test result' "$log" | tail -n 1)
            echo "ok ($(( $(date +%s) - t0 )) s) ${summary#test result: }"
        else
            echo "FAILED, see $log"
            grep -E '^==[0-9]+==' "$log" | head -n 40 >&2 || true
            failed="$failed $name"
        fi
    done
    if [ -n "$failed" ]; then
        echo "memcheck: errors in:$failed" >&2
        exit 1
    fi
    echo ">> $count test binaries clean under valgrind in $(( $(date +%s) - start )) s"
}

iterations=${MEMCHECK_FUZZ_ITERATIONS:-3000}
if [ "$iterations" -gt 0 ]; then
    echo ">> building the fuzz driver into target/fuzz"
    cargo build --release --manifest-path fuzz/Cargo.toml --bin fuzz-driver --target-dir target/fuzz --quiet
    for target in core_ops structured; do
        printf '>> valgrind fuzz-driver --target %s --iterations %s ' "$target" "$iterations"
        log=target/memcheck/valgrind-fuzz-driver-$target.log
        if valgrind $valgrind_flags target/fuzz/release/fuzz-driver --target "$target" --iterations "$iterations" --seed 1 >"$log" 2>&1; then
            echo "ok: $(tail -n 1 "$log" | sed 's/^fuzz-driver: //')"
        else
            echo "FAILED, see $log"
            grep -E '^==[0-9]+==|FAILED|failure' "$log" | head -n 40 >&2 || true
            exit 1
        fi
    done
fi

# ---- the binding: the Python suite under valgrind ------------------------------------------------

python_versions=${MEMCHECK_PYTHON_VERSIONS-"3.13"}
if [ -z "$python_versions" ] || [ "$python_versions" = 0 ]; then
    exit 0
fi
# Every type's create/use/drop and conversions (channels, queues, shareable values, pickled
# fallbacks), buffers and leases, shared arrays, select, primitives, asyncio, calls, a part of the
# pool's tests, interpreters and their close, a part of the exit tests (child processes,
# followed), and the C API (its tests' extension and the docs' example run under valgrind; the
# compiler that builds them does not). About 9 minutes per CPython on a 2-core VM.
pytest_selection=${MEMCHECK_PYTEST:-"tests/test_channels.py tests/test_queues.py tests/test_queue_data.py \
tests/test_shareable.py tests/test_select.py tests/test_send_buffer.py tests/test_shared_array.py \
tests/test_primitives.py tests/test_asyncio.py tests/test_call.py tests/test_interpreters.py \
tests/test_close_threads.py tests/test_channel_close.py tests/test_faults.py \
tests/test_pool.py::test_submit_returns_a_future_with_the_result \
tests/test_pool.py::test_arguments_and_results_cross_natively_or_by_pickle \
tests/test_pool.py::test_map_with_chunksize_mixes_native_and_pickled_arguments \
tests/test_pool.py::test_a_raising_task_fails_only_its_future \
tests/test_pool.py::test_raising_initializer_breaks_the_pool \
tests/test_pool.py::test_shutdown_cancel_futures_cancels_what_has_not_started \
tests/test_pool.py::test_process_exit_by_falling_off_the_end_with_a_running_task \
tests/test_pool_results.py::test_serve_leaves_each_outcome_in_its_cell_to_be_claimed_once \
tests/test_pool_results.py::test_serve_settles_watched_tasks_through_settle_containers_unbuilt \
tests/test_pool_results.py::test_cancel_queued_cancels_the_tasks_and_leaves_the_stop_signals \
tests/test_pool_results.py::test_fail_queued_finishes_the_tasks_as_broken \
tests/test_pool_results.py::test_wait_first_completed_and_as_completed_see_finished_tasks \
tests/test_pool_results.py::test_done_callbacks_run_for_finished_and_for_running_tasks \
tests/test_pool_results.py::test_shutdown_cancels_queued_futures_watched_or_not \
tests/test_pool_results.py::test_a_broken_pool_fails_queued_futures_watched_or_not \
tests/test_pool_results.py::test_a_tasks_leftovers_are_freed_after_its_outcome_is_out \
tests/test_exit.py::test_exit_with_live_idle_interpreters \
tests/test_exit.py::test_exit_with_calls_blocked_in_threads_inside_subinterpreters \
tests/test_exit.py::test_exit_while_two_interpreters_run_code_and_others_block \
tests/test_exit.py::test_exit_names_threads_blocked_in_the_package_and_ctrl_c_ends_the_wait \
tests/test_leaks.py::test_the_compiled_module_is_freed_once_nothing_uses_it tests/test_capi.py"}
# Children are followed, but not the C compiler the C API's tests start (gcc's cc1 has memcheck
# findings of its own that say nothing about the package).
python_valgrind_flags="--tool=memcheck --trace-children=yes --trace-children-skip=*/gcc*,*/cc,*/cc1*,*/clang* \
--num-callers=40 --error-limit=no \
--suppressions=$PWD/scripts/memcheck-python.supp --leak-check=full --show-leak-kinds=definite \
--errors-for-leak-kinds=none"

found=$(PYTHON_VERSIONS=$python_versions scripts/find-pythons.sh) || exit 2
echo "$found" | while read -r version python; do
    start=$(date +%s)
    echo ">> building the package with debug info into .venv/memcheck-py$version"
    venv_python=$(VENV=.venv/memcheck-py$version CARGO_TARGET_DIR=target/memcheck-py$version \
        CARGO_PROFILE_RELEASE_DEBUG=true scripts/venv.sh "$version" "$python" | tail -n 1)
    logs=$PWD/target/memcheck/py$version
    rm -rf "$logs"; mkdir -p "$logs"
    printf '>> valgrind pytest on CPython %s (%s files or tests) ' "$version" "$(echo $pytest_selection | wc -w)"
    # An absolute interpreter path: the exit tests start sys.executable from other folders.
    # shellcheck disable=SC2086
    if PYTHONMALLOC=malloc valgrind $python_valgrind_flags --log-file="$logs/%p.log" \
            "$PWD/$venv_python" -m pytest -q -p no:cacheprovider $pytest_selection >"$logs/pytest.out" 2>&1; then
        echo "ok ($(( $(date +%s) - start )) s): $(tail -n 1 "$logs/pytest.out")"
    else
        echo "FAILED ($(( $(date +%s) - start )) s), see $logs/pytest.out"
        grep -E '^(FAILED|ERROR) ' "$logs/pytest.out" | head -n 20 >&2 || true
        python3 scripts/memcheck_report.py "$logs" >&2 || true
        exit 1
    fi
    python3 scripts/memcheck_report.py "$logs" || exit 1
done
