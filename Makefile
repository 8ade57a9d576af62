# loadnb developer tasks (GNU make).
#
#   make lab        create .venv, install, open JupyterLab on the quickstart notebook
#   make test       create .venv, install (incl. apt packages), lint, type-check, whole test suite
#
# Everything lives in ./.venv; nothing is installed into the system Python.

PY   ?= python3
VENV  = .venv
BIN   = $(VENV)/bin
STAMP = $(VENV)/.installed

# Extra arguments, e.g. `make test PYTEST_ARGS="-k engine -x"`, `make test PYTEST_JOBS=1` or
# `make demo PORT=8000`.
PYTEST_ARGS ?=
PORT        ?=

# apt packages the tests and benchmarks need (command to look for : Debian package).
SYSDEPS = nginx:nginx chromium:chromium wrk:wrk prometheus:prometheus h2load:nghttp2-client

# BokehJS must load without a CDN (CI is offline): inline it wherever Bokeh renders.
test test-fast lab voila: export BOKEH_RESOURCES = inline

# Jupyter refuses to run as root without --allow-root (containers, CI).
ifeq ($(shell id -u 2>/dev/null),0)
JUPYTER_ROOT = --allow-root
endif

.DEFAULT_GOAL := help
.PHONY: help venv sysdeps lint test test-fast lab voila demo bench clean distclean

help:
	@echo "make lab        JupyterLab on notebooks/01-quickstart.ipynb (creates .venv)"
	@echo "make voila      the dashboard app in Voila (loadnb app; URL=..., PORT=N)"
	@echo "make demo       the built-in demo target server (PORT=8000 to pick a port)"
	@echo "make test       ruff + mypy + the whole pytest suite (installs apt packages too)"
	@echo "make test-fast  pytest without slow and browser tests"
	@echo "make lint       ruff check + mypy + import contracts (lint-imports)"
	@echo "make bench      benchmarks/run_all.py, then benchmarks/h2.py (HTTP/2)"
	@echo "make sysdeps    apt packages: nginx, chromium, wrk, prometheus, h2load"
	@echo "make venv       .venv with loadnb[notebook,test] (re-installs when pyproject.toml changes)"
	@echo "make clean      caches and build output (keeps .venv); make distclean also removes .venv"

# ---------------------------------------------------------------------------------------------
# Python environment

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Re-install only when pyproject.toml changed (or the stamp is missing).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[notebook,test]"
	@touch $@

venv: $(STAMP)

# ---------------------------------------------------------------------------------------------
# System packages (Debian/Ubuntu). Fast no-op when everything is already there.

sysdeps:
	@set -e; \
	PATH="$$PATH:/usr/local/sbin:/usr/sbin:/sbin"; \
	missing=""; \
	for dep in $(SYSDEPS); do \
	  cmd=$${dep%%:*}; pkg=$${dep#*:}; \
	  if ! command -v "$$cmd" >/dev/null 2>&1; then missing="$$missing $$pkg"; fi; \
	done; \
	if [ -z "$$missing" ]; then echo "sysdeps: installed: $(foreach d,$(SYSDEPS),$(word 2,$(subst :, ,$(d))))"; exit 0; fi; \
	echo "sysdeps: missing:$$missing"; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  msg="apt-get not found; install$$missing yourself (browser tests will skip without chromium)"; \
	  if [ "$${CI:-}" = "true" ]; then echo "sysdeps: ERROR: $$msg" >&2; exit 1; fi; \
	  echo "sysdeps: WARNING: $$msg" >&2; exit 0; \
	fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	else \
	  msg="not root and no sudo; install$$missing yourself (browser tests will skip without chromium)"; \
	  if [ "$${CI:-}" = "true" ]; then echo "sysdeps: ERROR: $$msg" >&2; exit 1; fi; \
	  echo "sysdeps: WARNING: $$msg" >&2; exit 0; \
	fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get -q -o DPkg::Lock::Timeout=600 update; \
	$$sudo apt-get -q -o DPkg::Lock::Timeout=600 install -y --no-install-recommends $$missing; \
	for dep in $(SYSDEPS); do \
	  cmd=$${dep%%:*}; \
	  command -v "$$cmd" >/dev/null 2>&1 || { echo "sysdeps: ERROR: $$cmd still missing" >&2; exit 1; }; \
	done; \
	echo "sysdeps: installed$$missing"

# ---------------------------------------------------------------------------------------------
# Checks

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The suite runs in two processes (pytest-xdist; a test file stays in one), then the real-browser
# tests alone: Chromium, JupyterLab and a kernel beside another load test time out on 2 cores.
# PYTEST_JOBS=1 runs everything in one process. (Exit status 5, "no tests collected", is no
# failure: PYTEST_ARGS may select tests of one phase only.)
PYTEST_JOBS ?= 2
XDIST = $(if $(filter-out 1,$(PYTEST_JOBS)),-n $(PYTEST_JOBS) --dist loadfile)

test: lint sysdeps
	$(BIN)/python -m pytest $(XDIST) -m "not browser" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-fast: venv
	$(BIN)/python -m pytest $(XDIST) -m "not slow and not browser" $(PYTEST_ARGS)

bench: venv sysdeps
	$(BIN)/python benchmarks/run_all.py
	$(BIN)/python benchmarks/h2.py
	$(BIN)/python benchmarks/startup.py

# ---------------------------------------------------------------------------------------------
# Interactive

lab: venv
	$(BIN)/jupyter lab notebooks/01-quickstart.ipynb --ip=127.0.0.1 $(JUPYTER_ROOT)

voila: venv  # the dashboard app (loadnb/app/app.ipynb); URL=... to target a server, PORT=N
	$(BIN)/loadnb app $(URL) $(if $(PORT),--port $(PORT))

demo: venv
	$(BIN)/loadnb demo $(if $(PORT),--port $(PORT))

# ---------------------------------------------------------------------------------------------

clean:
	rm -rf build dist artifacts .pytest_cache .mypy_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) \
	  -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
