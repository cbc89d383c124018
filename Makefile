# The course's two commands:
#   make lab    set up (first time only) and open the course in JupyterLab
#   make test   set up (first time only) and run every check the repository has
# Set-up creates .venv with Python 3.11, installs the pinned requirements and toylib (editable),
# and registers the "causal-conv-course" Jupyter kernel. It re-runs only when requirements.txt
# or pyproject.toml changed, and pip then installs only what changed.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL := causal-conv-course
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 || command -v python3)
# extra JupyterLab options, e.g. make lab ARGS="--no-browser --port=8899"
ARGS ?=
# Jupyter refuses to start as root (containers, cloud sandboxes) unless told it is on purpose
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: help setup lab lab-instructor test release bench-grading bench-grading-load bench-pixelcnn \
	bench-sampling bench-encoders bench-longconv clean-venv
help:
	@echo "make lab    open the course in JupyterLab (ARGS=\"--no-browser --port=8899\" to pass options)"
	@echo "make lab-instructor  JupyterLab at the repository root with all of nbgrader's tools (formgrader, ...)"
	@echo "make test   run every check: lint, toylib tests, lecture notebooks, exercises, grader"
	@echo "make bench-grading   seconds per submission, --jobs 1 vs 2 (ARGS=--json for machines)"
	@echo "make bench-grading-load  the sample batch idle vs beside 4 busy processes: same grades?"
	@echo "make bench-pixelcnn  PixelCNN test NLL on the digits in 60 s, with/without positions"
	@echo "make bench-sampling  ms per sampled step: naive vs receptive-field window vs cached"
	@echo "make bench-encoders  lecture 05: does an LSTM learn the repeat? 2 widths x 2 lrs x 3 seeds (8 min)"
	@echo "make bench-longconv  lecture 06: causal conv summed directly vs by FFT, filters 16..4096 (2 threads)"

$(PY):
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "error: python3.11 not found: install Python 3.11 first"; exit 1; }
	@$(BOOTSTRAP_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "error: $(BOOTSTRAP_PYTHON) is not Python 3.11: set BOOTSTRAP_PYTHON=/path/to/python3.11"; exit 1; }
	$(BOOTSTRAP_PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Causal conv course"
	@touch $@

setup: $(STAMP)

# Students work on their own copies: tools/my_work.py copies exercises/ and lectures/ into the
# git-ignored my_work/ (on the first start, then what a git pull added; it never overwrites a
# file), and the lab opens there (root: the repository). jupyter/student/ (on JUPYTER_CONFIG_PATH
# for this process only) turns off nbgrader's instructor tools (formgrader, create assignment,
# course and assignment lists: plugins and server extensions) and JupyterLab's news pop-up; it
# keeps nbgrader's Validate button. make lab-instructor: the repository root, every extension.
#
# Passive OpenMP threads (a waiting thread sleeps instead of spinning), for lab and test alike:
# two spinning threads on a core that another process uses (a second kernel, a test run) ran
# 6x to 80x slower in this project's measurements on 2-core machines. The kernels JupyterLab starts inherit it; set OMP_WAIT_POLICY to override.
LAB := $(VENV)/bin/jupyter lab --ServerApp.root_dir=. $(ROOT_FLAG)
lab: export OMP_WAIT_POLICY ?= PASSIVE
lab: setup
	$(PY) tools/my_work.py
	JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter/student$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	  $(LAB) --LabApp.default_url=/lab/tree/my_work $(ARGS)

lab-instructor: export OMP_WAIT_POLICY ?= PASSIVE
lab-instructor: setup
	$(LAB) $(ARGS)

# Fast mode (smaller runs) unless CI says otherwise; CI sets CI=true itself. Two pytest
# processes, a test file each at a time (the sample batch's file is the longest): TEST_WORKERS=0
# runs everything in one.
TEST_WORKERS ?= 2
test: export OMP_WAIT_POLICY ?= PASSIVE
test: setup
	$(VENV)/bin/ruff check .
	CI=$${CI:-true} $(PY) -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

# instructors: regenerate exercises/ from solutions/
release: setup
	$(PY) -m grader release

# benchmarks: one script per measured claim (ARGS="--json" prints one JSON object)
bench-grading: setup
	$(PY) benchmarks/grading_throughput.py $(ARGS)

bench-grading-load: setup
	$(PY) benchmarks/grading_under_load.py $(ARGS)

bench-pixelcnn: setup
	$(PY) benchmarks/pixelcnn_digits.py $(ARGS)

bench-sampling: setup
	$(PY) benchmarks/cached_sampling.py $(ARGS)

bench-encoders: setup
	$(PY) benchmarks/encoder_sweep.py $(ARGS)

bench-longconv: setup
	$(PY) benchmarks/longconv.py $(ARGS)

clean-venv:
	rm -rf $(VENV)
