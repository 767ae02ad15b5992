# The course's commands. A newcomer needs two of them:
#   make lab    create .venv, install everything, open the course in JupyterLab
#   make test   create .venv, install everything, run the whole test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
REVEAL_WHEEL := sphinx-revealjs==3.2.1
PYTEST_ARGS ?=

.PHONY: install lab playground test test-other-cpu release test-ipywidgets7 unit lint regen slides html bench browser-deps clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@# reveal.js for `make slides` (inlined into each deck, so slides work offline): the
	@# release the sphinx-revealjs wheel ships, downloaded once, never installed.
	$(PY) -m pip download --quiet --no-deps --dest $(VENV)/vendor $(REVEAL_WHEEL)
	@touch $(STAMP)

install: $(STAMP)

lab: install
	bash tools/lab.sh

# The playground: train/eval boundaries side by side, as a standalone page (Voila).
playground: install
	bash tools/playground.sh

# Everything: lint, unit tests, nbval on every notebook, the browser test.
# COURSE_OFFLINE + tests/offline/sitecustomize.py block every non-loopback
# connection in pytest, its workers and the notebook kernels.
test: install browser-deps lint
	COURSE_OFFLINE=1 PYTHONPATH=$(CURDIR)/tests/offline $(PY) -m pytest -n 2 --dist loadscope $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-other-cpu
	IPYW7_NOTEBOOKS=0 bash tools/test_ipywidgets7.sh -n 2

# nbval once more, as on another CPU: no SIMD kernels in torch, MKL's portable code
# path. The last bits of every float change; the committed outputs must still match.
OTHER_CPU := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE
test-other-cpu: install
	@echo "nbval on a simulated other CPU ($(OTHER_CPU))"
	$(OTHER_CPU) COURSE_OFFLINE=1 PYTHONPATH=$(CURDIR)/tests/offline $(PY) -m pytest -n 2 --dist loadscope notebooks

# The ipywidgets 7 (Colab) check in full: widget tests plus every notebook that
# shows widgets, executed in an ipywidgets 7 kernel (slower; `make test` runs the tests only).
test-ipywidgets7: install
	bash tools/test_ipywidgets7.sh

lint: install
	$(VENV)/bin/ruff check course_utils tests tools
	$(VENV)/bin/nbqa ruff notebooks

# Unit tests only (fast, no notebooks).
unit: install
	$(PY) -m pytest tests $(PYTEST_ARGS)

browser-deps: install
	bash tools/install_browser.sh

# Re-execute notebooks in place (all, or NB=notebooks/01-....ipynb).
regen: install
	$(PY) tools/run_notebooks.py $(NB)

# The student release: solutions replaced by scaffolds, no tests (build/release/).
release: install
	$(PY) tools/release.py

slides: install
	$(PY) tools/build_slides.py

html: install
	$(PY) tools/export_html.py

bench: install
	$(PY) tools/bench.py

# Grade a class: every notebook under DIR run in a fresh sandboxed kernel with the
# course's checkers; writes DIR-grades/grades.csv and summary.md.
# Options: GRADE_ARGS="--timeout 120 --jobs 4 --out grades/".
.PHONY: grade
grade: install
	@test -n "$(DIR)" || { echo "usage: make grade DIR=path/to/submissions/"; exit 2; }
	$(PY) -m course_utils.grade $(DIR) $(GRADE_ARGS)

clean:
	rm -rf build .pytest_cache
