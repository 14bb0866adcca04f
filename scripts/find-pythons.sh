#!/bin/sh
# Prints "<version> <path>" for each CPython wanted by `make test` (default: 3.12, 3.13, 3.14, 3.15),
# looking on PATH (python3.X) and then in pyenv's versions folder. A candidate counts only if it
# actually runs and reports that version (pyenv shims on PATH may exist but refuse to run).
# Warns on stderr for each version not found; fails loudly if none is found at all.
set -u
versions=${PYTHON_VERSIONS:-"3.12 3.13 3.14 3.15"}
pyenv_root=$( (pyenv root) 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")

works() {  # works <path> <version>
    "$1" -c "import sys; sys.exit(0 if sys.implementation.name == 'cpython' and '%d.%d' % sys.version_info[:2] == '$2' else 1)" >/dev/null 2>&1
}

found=0
for v in $versions; do
    path=""
    cand=$(command -v "python$v" 2>/dev/null || true)
    if [ -n "$cand" ] && works "$cand" "$v"; then
        path=$cand
    else
        for cand in $(ls -d "$pyenv_root"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -V -r); do
            if works "$cand" "$v"; then path=$cand; break; fi
        done
    fi
    if [ -n "$path" ]; then
        echo "$v $path"
        found=$((found + 1))
    else
        echo "WARNING: CPython $v not found (looked for python$v on PATH and in $pyenv_root/versions/$v.*); it will not be tested." >&2
    fi
done
if [ "$found" -eq 0 ]; then
    echo "ERROR: no CPython >= 3.12 found (wanted: $versions). Install one, e.g. 'pyenv install 3.13', or put python3.12 ... python3.15 on PATH." >&2
    exit 1
fi
