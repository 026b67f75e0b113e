# The two commands of the README: `make demo` (the main job) and `make test`.
# Each installs what it needs on first use: a .venv with the package and its test tools.
VENV ?= .venv
PYTHON ?= python3
# torch stays a normal dependency (torch>=2.2) in pyproject.toml. Installing this exact release
# first lets pip take the CPU wheel that lies on disk here (2.13.0+cpu sorts above the CUDA
# build of PyPI), instead of a multi-GB CUDA build. Override it on a GPU machine:
#   make install TORCH_SPEC="torch"
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output

.PHONY: install system-deps test lint demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

lint: install
	$(BIN)/ruff check src tests benchmarks examples

test: install system-deps lint
	$(BIN)/python -m pytest

demo: install
	$(BIN)/mousestop demo $(DEMO_DIR)

clean:
	rm -rf $(VENV) $(DEMO_DIR) dist build .pytest_cache .ruff_cache
