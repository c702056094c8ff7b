# Two commands do all the set-up on a fresh machine with Python 3.10+:
#   make lab    create .venv if missing, install the course, open JupyterLab at notebook 00
#   make test   create .venv if missing, install the test extra, run the whole test suite
# Also: make execute (re-run every notebook in place), make bench (budgets), make docs (README
# syllabus and WORKSHOP.md), make checkpoints (the pre-trained model in data/), make lint.
# Workshops (docs/instructors.md): make student (copies without solutions in build/student/),
# make instructor (adds jupyterlab-rise for slides), make normalize (Colab cell and slide metadata).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
INSTALL := $(PIP) install -c constraints.txt
PYTEST_ARGS ?=
# Jupyter refuses to run as root (containers, some hubs) unless told; the token still protects it.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

.PHONY: lab test execute bench docs checkpoints student instructor normalize lint format constraints clean

$(PY):
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-base: $(PY) pyproject.toml constraints.txt
	$(INSTALL) -e .
	touch $@

$(VENV)/.installed-test: $(PY) pyproject.toml constraints.txt
	$(INSTALL) -e ".[test]"
	touch $(VENV)/.installed-base $@

lab: $(VENV)/.installed-base
	$(VENV)/bin/jupyter lab --ServerApp.ip=localhost $(ALLOW_ROOT) notebooks/00_start_here.ipynb

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

execute: $(VENV)/.installed-test
	$(PY) tools/execute_notebooks.py

bench: $(VENV)/.installed-test
	$(PY) tools/bench.py

docs: $(VENV)/.installed-base
	$(PY) tools/generate_docs.py

checkpoints: $(VENV)/.installed-base
	$(PY) tools/make_checkpoints.py

student: $(VENV)/.installed-base
	$(PY) tools/student_copies.py

instructor: $(VENV)/.installed-base
	$(INSTALL) -e ".[instructor]"

normalize: $(VENV)/.installed-base
	$(PY) tools/normalize_notebooks.py

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check course_utils tests tools notebooks

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format course_utils tests tools

constraints: $(VENV)/.installed-test
	@echo "Regenerate constraints.txt from the current .venv (keep the header and the python_version markers)."
	$(PIP) freeze --exclude-editable

clean:
	rm -rf build .pytest_cache
