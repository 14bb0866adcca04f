# subinterpreters — run `make help` for the targets.
# Python interpreters are found by scripts/find-pythons.sh (PATH, then pyenv's versions folder);
# every version of PYTHON_VERSIONS found is used (a missing one is a warning, none at all an error);
# set PYTHON_VERSIONS="3.13" to restrict them. CPython 3.14 and 3.15 come from
# ../shared/ci/newer-pythons on our machines (.ci/run shows how).

SHELL := /bin/sh
.DEFAULT_GOAL := help
export PYTHON_VERSIONS ?= 3.12 3.13 3.14 3.15
# The newest version found runs the demo and the benchmark (its anchors: the standard library's
# interpreters of that version). For the committed 3.14 report:
#   ../shared/ci/newer-pythons run make bench PYTHON_VERSIONS=3.14
NEWEST = $$(scripts/find-pythons.sh | tail -n 1)

.PHONY: help
help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: test
test: lint rust-test python-test wheel-test  ## Lint, Rust tests (unit + loom), the Python suite on every CPython found, the wheel test.

.PHONY: rust-test
rust-test:  ## Core crate unit/integration tests, then the loom models.
	cargo test -p subinterpreters-core
	RUSTFLAGS="--cfg loom" cargo test -p subinterpreters-core --release --test loom --target-dir target/loom

.PHONY: python-test
# Test-only requirements: numpy (shared arrays), hypothesis (property tests), mypy's stubtest,
# Dask's distributed scheduler (docs/calling-and-pools.md's executor example runs on a LocalCluster),
# pyelftools (tests/test_wheel.py reads the wheel's extension's ELF sections).
TEST_REQUIREMENTS = numpy hypothesis mypy==2.4.1 typing_extensions "dask[distributed]==2026.8.0" pyelftools

# PYTHONFAULTHANDLER=1: pytest keeps faulthandler on for the session only; this keeps it on until
# the process ends, so a crash at exit (exit hooks, finalisation) still prints every thread's stack.
python-test:  ## Build the package into a venv per CPython found (3.12-3.15); check the stubs (stubtest) and run pytest in each (but the wheel test).
	@set -e; pythons=$$(scripts/find-pythons.sh); \
	echo "$$pythons" | while read -r version python; do \
		venv_python=$$(scripts/venv.sh "$$version" "$$python" $(TEST_REQUIREMENTS) | tail -n 1); \
		echo ">> stubtest on CPython $$version"; \
		$$venv_python -m mypy.stubtest subinterpreters._core; \
		echo ">> pytest on CPython $$version"; \
		PYTHONFAULTHANDLER=1 $$venv_python -m pytest tests -m "not wheel"; \
	done

.PHONY: lint lint-layers lint-rust lint-python
lint: lint-layers lint-rust lint-python  ## Everything below: module layering, rustfmt, clippy (warnings are errors), ruff.

# docs/architecture.md draws the layers; the script prints each crate's module graph.
lint-layers:  ## No import cycle between top-level modules of crates/python/src or crates/core/src (scripts/module-graph.py).
	@python=$$(scripts/find-pythons.sh 2>/dev/null | head -n 1 | cut -d' ' -f2); \
	"$${python:-python3}" scripts/module-graph.py

# clippy builds the binding against every CPython found (its code differs by version), each in
# the version's own target folder (the one scripts/venv.sh builds in).
lint-rust:  ## cargo fmt --check (workspace and fuzz/), clippy -D warnings on the workspace and on the core's loom build.
	cargo fmt --all --check
	cd fuzz && cargo fmt --check
	@set -e; scripts/find-pythons.sh | while read -r version python; do \
		echo ">> clippy against CPython $$version"; \
		PYO3_PYTHON=$$python CARGO_TARGET_DIR=target/py$$version cargo clippy --workspace --all-targets -- -D warnings; \
	done
	RUSTFLAGS="--cfg loom" cargo clippy -p subinterpreters-core --tests --target-dir target/loom -- -D warnings

# ruff, pinned, installed into its own venv (.venv/tools) by the first CPython that
# scripts/find-pythons.sh finds (python3 if none).
RUFF_VERSION = 0.17.6
PYTHON_LINT_PATHS = python tests bench stress examples scripts
lint-python:  ## ruff check and ruff format --check (ruff pinned, in .venv/tools) on the package, tests/, bench/, stress/, examples/, scripts/.
	@set -e; ruff=.venv/tools/bin/ruff; \
	if [ "$$($$ruff --version 2>/dev/null)" != "ruff $(RUFF_VERSION)" ]; then \
		python=$$(scripts/find-pythons.sh 2>/dev/null | head -n 1 | cut -d' ' -f2); \
		[ -x .venv/tools/bin/python ] || "$${python:-python3}" -m venv .venv/tools; \
		.venv/tools/bin/python -m pip install -q --disable-pip-version-check ruff==$(RUFF_VERSION); \
	fi; \
	$$ruff check $(PYTHON_LINT_PATHS); \
	$$ruff format --check $(PYTHON_LINT_PATHS)

.PHONY: wheel-test
# One wheel (a release build: about a minute on 2 cores), for the newest CPython found only:
# tests/test_wheel.py runs with any CPython, e.g. inside newer-pythons: pytest -m wheel tests/test_wheel.py
wheel-test:  ## Build the newest CPython's wheel as `make wheels` does; check its tags and glibc 2.17 symbols, install it into a fresh venv without Rust and run a smoke program.
	@set -e; set -- $(NEWEST); venv_python=$$(scripts/venv.sh "$$1" "$$2" $(TEST_REQUIREMENTS) | tail -n 1); \
	echo ">> wheel test on CPython $$1"; \
	$$venv_python -m pytest -m wheel tests/test_wheel.py

.PHONY: wheels
WHEEL_VERSIONS ?= 3.12 3.13 3.14 3.15
wheels:  ## manylinux2014 wheels (x86_64, glibc >= 2.17) for CPython 3.12-3.15 into dist/, built by maturin with zig from PyPI; installing one needs no Rust.
	scripts/wheels.sh -o dist $(WHEEL_VERSIONS)

.PHONY: demo
demo:  ## The main job: a CSP pipeline over isolated interpreters vs the same on threads.
	@set -e; set -- $(NEWEST); venv_python=$$(scripts/venv.sh "$$1" "$$2" | tail -n 1); \
	$$venv_python examples/pipeline.py

.PHONY: bench
bench:  ## Benchmark suite (ping-pong, queue throughput, hand-over, start-up, pool, real programs, the C API) against the stdlib's interpreters (3.14+: concurrent.interpreters; 3.13: _interpreters), multiprocessing, threads; writes bench/results/latest.md and latest.png; BENCH_ARGS="--quick" for a smoke run.
	@set -e; set -- $(NEWEST); venv_python=$$(scripts/venv.sh "$$1" "$$2" matplotlib markdown | tail -n 1); \
	$$venv_python bench/run.py $(BENCH_ARGS)

.PHONY: stress
stress:  ## Stress suite on every CPython found (minutes at most each): 8 producers + 8 consumers on 4 interpreters move 10^6 items through channels and queues, then every item is accounted for; options via STRESS_ARGS="--seed N --items N".
	@set -e; pythons=$$(scripts/find-pythons.sh); \
	echo "$$pythons" | while read -r version python; do \
		venv_python=$$(scripts/venv.sh "$$version" "$$python" | tail -n 1); \
		echo ">> stress on CPython $$version"; \
		$$venv_python stress/run.py $(STRESS_ARGS); \
	done

.PHONY: leaks
leaks:  ## The leak checks (tests/test_leaks.py: 10^4 channels and queues, 10^5 messages; RSS figures printed) on every CPython found.
	@set -e; pythons=$$(scripts/find-pythons.sh); \
	echo "$$pythons" | while read -r version python; do \
		venv_python=$$(scripts/venv.sh "$$version" "$$python" | tail -n 1); \
		echo ">> leak checks on CPython $$version"; \
		$$venv_python -m pytest -s -q -p no:cacheprovider tests/test_leaks.py; \
	done

.PHONY: memcheck
memcheck:  ## Valgrind memcheck: the core's std tests and 3000 fuzz inputs, then the binding (a selection of the Python suite under PYTHONMALLOC=malloc; CPython 3.13, or MEMCHECK_PYTHON_VERSIONS); memory errors and leaks fail it.
	scripts/memcheck.sh

.PHONY: fuzz
fuzz:  ## Random operation sequences on the core's queues, channel and select vs a reference model (stable driver; FUZZ_SECONDS=60, FUZZ_SEED=clock).
	cargo build --release --manifest-path fuzz/Cargo.toml --bin fuzz-driver --target-dir target/fuzz
	target/fuzz/release/fuzz-driver --seconds $${FUZZ_SECONDS:-60} $${FUZZ_SEED:+--seed $$FUZZ_SEED} $$(test -d fuzz/corpus/core_ops && echo fuzz/corpus/core_ops)

.PHONY: fuzz-structured
fuzz-structured:  ## The structured data format: garbage and mutated buffers into the decoder, random values round-tripped (stable driver; FUZZ_SECONDS=60, FUZZ_SEED=clock).
	cargo build --release --manifest-path fuzz/Cargo.toml --bin fuzz-driver --target-dir target/fuzz
	target/fuzz/release/fuzz-driver --target structured --seconds $${FUZZ_SECONDS:-60} $${FUZZ_SEED:+--seed $$FUZZ_SEED} $$(test -d fuzz/corpus/structured && echo fuzz/corpus/structured)

.PHONY: clean
clean:  ## Remove build output and virtual environments.
	cargo clean
	rm -rf .venv dist
