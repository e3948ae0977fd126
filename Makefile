# lfn2_ros developer entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
WITH_ENV := scripts/with_env
# One torch thread: the 2-core CI machines are shared and 2-thread torch stalls under load.
export OMP_NUM_THREADS ?= 1

.PHONY: setup test test-all lint demo ext check-cuda bench clean

# The emulated CUDA kernels are a test backend (docs/extension.md): compiled here, once, in the environment the
# tests run in (ninja keeps a build only for the same command line), rather than inside the first test using
# them. A failure is only reported: those tests then say why.
setup:
	scripts/setup_env.sh
	$(WITH_ENV) python -c 'from lfn2_ros.ops import _build_emulated as e; print("setup: emulated CUDA kernels:", e.load()[1])'

# The fast suite (under 2 minutes of tests on the 2-core machine): everything but the tests marked slow.
# ruff runs inside the suite (test/test_package.py), once.
test: setup
	$(WITH_ENV) python -m pytest test -q -p no:cacheprovider -m "not slow" --durations=5

# The whole suite, slow tests included: what CI (.ci/run) runs.
test-all: setup
	$(WITH_ENV) python -m pytest test -q -p no:cacheprovider --durations=10

lint: setup
	$(WITH_ENV) ruff check .

demo: setup
	$(WITH_ENV) python -m lfn2_ros.node.demo

ext: setup
	MAX_JOBS=1 $(WITH_ENV) python scripts/build_ext.py --check

check-cuda:
	scripts/check_cuda.sh

bench: setup
	$(WITH_ENV) python benchmarks/bench_correlation.py --threads 1 2
	$(WITH_ENV) python benchmarks/bench_model.py
	$(WITH_ENV) python benchmarks/bench_opencv.py
	$(WITH_ENV) python benchmarks/bench_node.py

clean:
	rm -rf build install log demo_out
