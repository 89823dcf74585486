# labclip: `make book` builds the book with execution, `make test` runs the tests.
#
# Environment: with no virtualenv ($VIRTUAL_ENV) and no conda env ($CONDA_PREFIX) active, both
# create ./.venv with `python3 -m venv` and install into it; with one active, they install
# into that one. Every command runs the environment's python explicitly, so no activation is
# needed. PyTorch is installed first, and only when `import torch` fails: TORCH_SPEC (default
# the CPU build torch==2.13.0; e.g. `make env TORCH_SPEC="torch>=2.1"` for another build).
# A stamp file in the environment makes repeated runs instant; editing pyproject.toml, or
# switching environment, re-installs.

TORCH_SPEC ?= torch==2.13.0
PYTHON3 ?= python3

ifneq ($(strip $(VIRTUAL_ENV)),)
ENV_PREFIX := $(VIRTUAL_ENV)
NEW_VENV :=
else ifneq ($(strip $(CONDA_PREFIX)),)
ENV_PREFIX := $(CONDA_PREFIX)
NEW_VENV :=
else
ENV_PREFIX := $(CURDIR)/.venv
NEW_VENV := 1
endif
PY := $(ENV_PREFIX)/bin/python
# one stamp per (environment, clone): several clones may share an environment
STAMP := $(ENV_PREFIX)/.labclip-env-stamp-$(shell printf '%s' '$(CURDIR)' | cksum | cut -d' ' -f1)

export TQDM_DISABLE ?= 1
export PIP_DISABLE_PIP_VERSION_CHECK ?= 1

.PHONY: env test book bench clean help

help:
	@echo "make book    build the book with execution -> _build/html/index.html"
	@echo "make test    run the test suite"
	@echo "make env     create/update the environment only ($(ENV_PREFIX))"
	@echo "make bench   run the speed scripts in speed/"
	@echo "make clean   remove _build, including the execution cache"

env: $(STAMP)

$(STAMP): pyproject.toml
ifeq ($(NEW_VENV),1)
	@$(PYTHON3) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "labclip needs Python >= 3.10; run e.g. make PYTHON3=python3.11")'
	test -x $(PY) || $(PYTHON3) -m venv $(ENV_PREFIX)
endif
	@test -x $(PY) || { echo "no python at $(PY)"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	@if $(PY) -c "import torch" 2>/dev/null; then \
	  echo "torch already installed: $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	else \
	  echo "$(PY) -m pip install '$(TORCH_SPEC)'"; $(PY) -m pip install --quiet "$(TORCH_SPEC)"; \
	fi
	$(PY) -m pip install --quiet -e ".[book,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	$(PY) -m labclip_lib.book.tools vendor
	@touch $(STAMP)
	@echo "environment ready: $(ENV_PREFIX)"

# pytest exit code 5 ("no tests collected") must fail, not pass quietly. The tests run in
# TEST_JOBS pytest-xdist workers (default: one per core), each with one PyTorch thread (two
# workers of one thread each finish the suite sooner on two cores than one worker of two),
# handed one test at a time (--maxschedchunk 1) in the order tests/conftest.py sets: longest first.
TEST_JOBS ?= auto
test: env
	@TQDM_DISABLE=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_JOBS) --dist load --maxschedchunk 1; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$status

# The kernel's inline backend draws the figures into the pages; a non-interactive backend
# inherited from the shell (MPLBACKEND=Agg) would silently drop every figure.
book: env
	$(PY) -m labclip_lib.book.tools sync
	TQDM_DISABLE=1 MPLBACKEND=module://matplotlib_inline.backend_inline $(ENV_PREFIX)/bin/jupyter-book build . -W --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html"

# BENCH_ARGS=--quick for a short run
bench: env
	@set -e; for f in speed/bench_*.py; do echo "== $$f $(BENCH_ARGS)"; $(PY) $$f $(BENCH_ARGS); done

clean:
	@if [ -x $(ENV_PREFIX)/bin/jupyter-book ]; then $(ENV_PREFIX)/bin/jupyter-book clean --all .; else rm -rf _build; fi
