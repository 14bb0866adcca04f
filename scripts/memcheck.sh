#!/bin/sh
# The core's std tests under valgrind memcheck (AddressSanitizer needs nightly Rust's
# -Zsanitizer; valgrind works with the stable toolchain): invalid reads and writes, uses of
# uninitialised memory, double frees and leaks fail the run.
#
# Builds every test binary of subinterpreters-core (unit tests and tests/*.rs, not the loom
# models, which only compile under --cfg loom) into target/memcheck, runs each under
#   valgrind --error-exitcode=1 --leak-check=full
# with scripts/memcheck.supp (allocations the Rust test harness keeps for the life of the process),
# then runs the fuzz driver (fuzz/) for MEMCHECK_FUZZ_ITERATIONS random inputs of each target
# (queue/channel operation sequences, structured-format buffers and values; default 3000; 0 skips
# it) under valgrind too. Exits non-zero at the first binary with an error.
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
