# talkgs: two commands from a fresh clone.
#   make demo   install everything, then run the whole workflow on the embedded demo identity
#   make test   install everything, then run the whole test suite
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages the stages call: ffmpeg/ffprobe (media), espeak-ng (demo speech), sox (audio
# checks), pdflatex with booktabs (the tables test compiles the LaTeX tables).
APT_PACKAGES := ffmpeg espeak-ng sox texlive-latex-base texlive-latex-recommended
APT_COMMANDS := ffmpeg ffprobe espeak-ng sox pdflatex
CORES ?= $(shell nproc)
# The torch build: `cpu` is the lock's (what CI and `make demo` run); on a GPU cluster
# `make install TORCH=cuda` installs PyPI's torch of the same version, its CUDA 13.0 build.
TORCH ?= cpu
# Every Snakemake job finds the `talkgs` CLI of this environment; no model hub is ever asked.
export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_OFFLINE := 1

.PHONY: help install system-packages demo test lint lock clean cluster-up cluster-down gpu-setup

help:
	@echo "make demo   - install, then run the workflow on the embedded demo identity"
	@echo "make test   - install, then run the whole test suite"
	@echo "make lint   - ruff and snakemake --lint"
	@echo "make install TORCH=cuda, then make gpu-setup on a GPU node - the GPU path (README)"

system-packages:
	@missing=""; for c in $(APT_COMMANDS); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages ($(APT_PACKAGES)) for:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

# The stamp is rebuilt whenever the pins change, so `make` after a `git pull` reinstalls.
$(VENV)/.installed-$(TORCH): pyproject.toml requirements.lock | system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	sed 's/^torch==\(.*\)+cpu$$/torch==\1/' requirements.lock > $(VENV)/requirements.cuda.lock
	$(BIN)/python -m pip install -q -r $(if $(filter cuda,$(TORCH)),$(VENV)/requirements.cuda.lock,requirements.lock)
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip check
	rm -f $(VENV)/.installed-*
	touch $@

install: system-packages $(VENV)/.installed-$(TORCH)

# gsplat's CUDA kernels, built once for this environment (talkgs gpu-setup); on a GPU node,
# e.g. `srun --gpus=1 --time=30 make gpu-setup`.
gpu-setup:
	@test -x $(BIN)/talkgs || { echo "run make install TORCH=cuda first"; exit 2; }
	$(BIN)/talkgs gpu-setup

demo: install
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html
	@echo "demo done: results/demo/ holds the artifacts, results/report.html the report"

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/snakemake --lint

# Regenerate requirements.lock from pyproject.toml in a throw-away environment.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^talkgs' > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf results logs benchmarks .snakemake

# A one-node SLURM cluster on this machine (root, Debian), as the cluster tests use it.
cluster-up:
	tests/cluster/slurm_up.sh

cluster-down:
	tests/cluster/slurm_down.sh
