# minicnn: `make demo` runs the main job, `make test` runs the whole test suite.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
export MINICNN_DATA ?= $(abspath ../shared/data)

.PHONY: install install-test demo test test-fast bench clean

install:
	$(PIP) install -e .

install-test:
	$(PIP) install -e ".[test]"

demo: install
	$(PYTHON) -m minicnn demo

test: install-test
	$(PYTHON) -m pytest -q

test-fast: install-test
	$(PYTHON) -m pytest -q tests/test_layers.py tests/test_fast_layers.py tests/test_kernels.py

bench: install
	$(PYTHON) benchmarks/bench_squeezenet.py

clean:
	rm -rf build dist *.egg-info minicnn/_*.so minicnn/_*.c kernels/*.c demo_output
