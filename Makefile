# labclip: `make book` builds the book with execution, `make test` runs the tests.
# Both create .venv and install everything when no virtual/conda environment is active.

TORCH_SPEC ?= torch==2.13.0
ifeq ($(strip $(VIRTUAL_ENV)$(CONDA_PREFIX)),)
VENV := .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book
else
VENV :=
PY := python
JB := jupyter-book
endif
STAMP := .env-stamp
export TQDM_DISABLE ?= 1
export MPLBACKEND ?= Agg

.PHONY: env test book bench clean

env: $(STAMP)

$(STAMP): pyproject.toml
ifneq ($(VENV),)
	test -x $(PY) || python3 -m venv $(VENV)
endif
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[book,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

test: env
	$(PY) -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$status

book: env
	$(PY) -m labclip_lib.booktools sync
	$(JB) build . -W --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html"

bench: env
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f --quick || exit 1; done

clean:
	rm -rf _build
