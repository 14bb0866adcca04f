#!/bin/sh
# Builds binary wheels that users without Rust can `pip install`: one manylinux2014 wheel (x86_64,
# any Linux with glibc 2.17 or later) per CPython version given (default: 3.12 3.13 3.14 3.15),
# into OUT (default: dist/). `make wheels` runs it; tests/test_wheel.py (`make wheel-test`) builds
# through it too.
#
# maturin 1.16 builds (the pin of scripts/venv.sh) and links with zig from PyPI (`ziglang`), which
# targets glibc 2.17's symbol versions whatever glibc this machine has: a plain build here needs
# glibc 2.34 symbols. A version whose CPython is not installed here is built from maturin's bundled
# sysconfig of that version (an extension for CPython on Linux needs its version, not the
# interpreter); for 3.14 and 3.15 that gives a .so byte for byte the same as a build inside
# ../shared/ci/newer-pythons with the real interpreters. Each wheel is then checked with auditwheel
# (PyPI): its most compatible tag must be manylinux_2_17_x86_64 or older, or this fails.
#
# The tools go into .venv/wheel-tools-<X.Y>, made with the newest CPython found (python3 if none);
# cargo builds into target/wheels-glibc<version> (build scripts run on the machine that built them,
# so a chroot with another glibc gets its own folder).
# Usage: scripts/wheels.sh [-o OUT] [VERSION...]
set -eu
cd "$(dirname "$0")/.."

out=dist
if [ "${1:-}" = "-o" ]; then out=$2; shift 2; fi
versions=${*:-"3.12 3.13 3.14 3.15"}
MATURIN_VERSION=1.16.0
ZIG_VERSION=0.17.1
AUDITWHEEL_VERSION=6.8.2

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) echo "wheels: builds manylinux x86_64 wheels on Linux x86_64 only (this is $(uname -s) $(uname -m))" >&2; exit 2 ;;
esac
command -v cargo >/dev/null 2>&1 || { echo "wheels: cargo not found: building needs Rust (https://rustup.rs)" >&2; exit 2; }

found=$(PYTHON_VERSIONS="3.12 3.13 3.14 3.15" scripts/find-pythons.sh 2>/dev/null || true)
tools_python=$(echo "$found" | tail -n 1 | cut -d ' ' -f 2)
[ -n "$tools_python" ] || tools_python=python3
tools_version=$("$tools_python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
tools=.venv/wheel-tools-$tools_version
if [ ! -x "$tools/bin/python" ]; then
    echo ">> creating $tools with $tools_python" >&2
    "$tools_python" -m venv "$tools" >&2
fi
"$tools/bin/python" -m pip install -q --disable-pip-version-check \
    "maturin==$MATURIN_VERSION" "ziglang==$ZIG_VERSION" "auditwheel==$AUDITWHEEL_VERSION" >&2

# One -i per version: the interpreter's path when it is installed here, else its name (maturin then
# uses its bundled sysconfig).
interpreters=""
for v in $versions; do
    path=$(echo "$found" | awk -v v="$v" '$1 == v {print $2}')
    if [ -n "$path" ]; then
        interpreters="$interpreters -i $path"
    else
        echo ">> CPython $v not installed here: built from maturin's bundled sysconfig for $v" >&2
        interpreters="$interpreters -i python$v"
    fi
done

glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
mkdir -p "$out"
start=$(date +%s)
echo ">> maturin build --release --zig --compatibility manylinux2014 for CPython $versions into $out" >&2
# The tools' bin folder first on PATH: maturin finds zig there (python -m ziglang).
# shellcheck disable=SC2086 # $interpreters is a list of arguments
PATH="$PWD/$tools/bin:$PATH" CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/wheels-glibc${glibc:-unknown}} \
    maturin build --release --zig --compatibility manylinux2014 $interpreters --out "$out" >&2
echo ">> built in $(( $(date +%s) - start )) s" >&2

# The wheels just built: maturin names them <name>-<version>-cpXY-cpXY-<platform tags>.whl.
package_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
failed=0
for v in $versions; do
    tag=cp$(echo "$v" | tr -d .)
    wheel=""
    for candidate in "$out"/subinterpreters-"$package_version"-"$tag"-"$tag"-*.whl; do
        if [ -f "$candidate" ]; then wheel=$candidate; break; fi
    done
    if [ -z "$wheel" ]; then
        echo "wheels: no wheel for CPython $v in $out" >&2; failed=1; continue
    fi
    verdict=$("$tools/bin/auditwheel" show "$wheel" 2>&1 | tr '\n' ' ' |
        sed -n 's/.*consistent with the following platform tag: *"\([^"]*\)".*/\1/p')
    case "$verdict" in
        manylinux_2_5_x86_64|manylinux_2_12_x86_64|manylinux_2_17_x86_64)
            echo ">> $(basename "$wheel"): $(( $(wc -c <"$wheel") / 1024 )) KiB, auditwheel: $verdict" >&2 ;;
        *)
            echo "wheels: $(basename "$wheel") is not manylinux2014 (auditwheel: ${verdict:-no verdict}):" >&2
            "$tools/bin/auditwheel" show "$wheel" >&2 || true
            failed=1 ;;
    esac
    echo "$wheel"
done
exit $failed
