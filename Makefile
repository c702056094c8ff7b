# Two commands do all the set-up on a fresh machine with Python 3.10+:
#   make lab    create .venv if missing, install the course, open JupyterLab at notebook 00
#   make test   create .venv if missing, install the test extra, run the whole test suite
# Also: make execute (re-run every notebook in place), make bench (budgets), make docs (README
# syllabus and WORKSHOP.md), make checkpoints (the pre-trained model in data/), make lint, make lock
# (requirements/ lock files), make test-fast (unit tests only, for contributors).
# Workshops (docs/instructors.md): make student (copies without solutions in build/student/),
# make instructor (adds jupyterlab-rise for slides), make normalize (Colab cell and slide metadata).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# Lock files (requirements/, written by `make lock`): every package pinned with its hashes. Used when
# present, else pyproject.toml's ranges. LOCK_SUFFIX=-cpu picks the files without PyTorch's CUDA
# libraries, for machines that install its CPU build first (.ci/run does).
LOCK_SUFFIX ?=
LAB_LOCK := $(wildcard requirements/lab$(LOCK_SUFFIX).txt)
TEST_LOCK := $(wildcard requirements/test$(LOCK_SUFFIX).txt)
PYTEST_ARGS ?=
# Jupyter refuses to run as root (containers, some hubs) unless told; the token still protects it.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

.PHONY: lab test test-fast execute bench docs checkpoints student instructor normalize site lint format lock clean

$(PY):
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-base: $(PY) pyproject.toml $(LAB_LOCK)
	$(if $(LAB_LOCK),$(PIP) install -r $(LAB_LOCK) && $(PIP) install --no-deps -e .,$(PIP) install -e .)
	touch $@

$(VENV)/.installed-test: $(PY) pyproject.toml $(TEST_LOCK)
	$(if $(TEST_LOCK),$(PIP) install -r $(TEST_LOCK) && $(PIP) install --no-deps -e .,$(PIP) install -e ".[test,site]")
	touch $(VENV)/.installed-base $@

lab: $(VENV)/.installed-base
	$(VENV)/bin/jupyter lab --ServerApp.ip=localhost $(ALLOW_ROOT) notebooks/00_start_here.ipynb

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

# Contributors' quick loop: the unit tests, without notebooks, browser or slow tests (under 3 minutes).
test-fast: $(VENV)/.installed-test
	$(PY) -m pytest tests -m "not browser and not slow" $(PYTEST_ARGS)

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
	$(PIP) install -e ".[instructor]"

normalize: $(VENV)/.installed-base
	$(PY) tools/normalize_notebooks.py

# The course website, built from the committed notebooks into build/site/ (open build/site/index.html).
site: $(VENV)/.installed-test
	$(PY) tools/build_site.py

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format .

lock: $(VENV)/.installed-test
	$(PIP) install -q uv
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) tools/lock.py

clean:
	rm -rf build .pytest_cache
