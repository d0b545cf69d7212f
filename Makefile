# minicnn: `make demo` writes the demo report, `make test` runs the whole test suite.
# Both install minicnn (editable, with the Cython kernels) first, and again only
# when the build inputs change.  A data folder is optional: ../shared/data next to
# the checkout (or $MINICNN_DATA) is used when present, the embedded images otherwise.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
STAMP := .make
BUILD_INPUTS := setup.py pyproject.toml $(wildcard kernels/*.pyx kernels/*.pxi kernels/*.h)

.PHONY: install install-test demo demo-quick test test-fast bench clean

install: $(STAMP)/install
install-test: $(STAMP)/install-test

# The stamps name the interpreter, so another virtual environment reinstalls.
$(STAMP)/install: $(BUILD_INPUTS)
	$(PIP) install -e .
	@mkdir -p $(STAMP) && $(PYTHON) -c "import sys; print(sys.executable)" > $@

$(STAMP)/install-test: $(BUILD_INPUTS)
	$(PIP) install -e ".[test]"
	@mkdir -p $(STAMP) && $(PYTHON) -c "import sys; print(sys.executable)" > $@ \
		&& cp $@ $(STAMP)/install

# Reinstall when the stamp was written by another interpreter.
ifneq ($(wildcard $(STAMP)/install),)
ifneq ($(shell cat $(STAMP)/install 2>/dev/null),$(shell $(PYTHON) -c "import sys; print(sys.executable)" 2>/dev/null))
.PHONY: $(STAMP)/install $(STAMP)/install-test
endif
endif

demo: install
	$(PYTHON) -m minicnn demo

demo-quick: install
	$(PYTHON) -m minicnn demo --quick

test: install-test
	$(PYTHON) -m pytest -q

test-fast: install-test
	$(PYTHON) -m pytest -q tests/test_layers.py tests/test_fast_layers.py tests/test_kernels.py

bench: install
	$(PYTHON) benchmarks/bench_squeezenet.py

clean:
	rm -rf build dist *.egg-info minicnn/_*.so minicnn/_*.c kernels/*.c demo_output $(STAMP)
