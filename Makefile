# kgjemb: two commands.
#   make demo   build the demo catalog (cached), load the embedded graph, train, index, query
#   make test   install everything (venv, pip, apt, Maven-built Neo4j) and run the test suite
#   make demo-real (optional, not part of test) real soundtracks from Debian game-data packages:
#               build + validate the catalog, load it into REAL_HOME, train, index, query
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install sysdeps neo4j-launcher demo demo-real test clean-demo

# Packages are installed with uv (PyPI package `uv`, put in the venv by pip): from warm
# caches a fresh clone's install took 63 s, .pyc compilation included, where pip took
# 3 min 18 s (it unpacks torch's ~3 GB of CUDA wheels one package at a time). Should uv
# fail, pip installs the same pins. Every pip download is retried: a registry connection
# dropped mid-wheel must not fail the install. `retry N CMD...` reruns CMD up to N times;
# uv retries on its own.
RETRY := scripts/retry 4
PIP_NET := --retries 10 --timeout 60 --resume-retries 10
UV_PIP := $(BIN)/uv pip install -q --python $(BIN)/python
export UV_HTTP_TIMEOUT := 120
# .pyc files written at install, as pip does: with PYTHONDONTWRITEBYTECODE set, a process
# would otherwise compile torch and music21 from source every time it imports them
# (measured: the demo's training set-up took 27 s instead of 9 s, a feature worker ~30 s to start)
export UV_COMPILE_BYTECODE := 1
EXTRAS := .[cpu,serve,milvus,dev]

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(RETRY) $(BIN)/pip install -q --retries 10 --timeout 60 --upgrade pip wheel setuptools uv

# torch is installed first with its exact pin so that nothing resolves an unpinned torch.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@if [ -x $(BIN)/uv ] && $(UV_PIP) "$(TORCH)" && $(UV_PIP) -e "$(EXTRAS)" "$(TORCH)"; then \
	  echo "installed with uv"; \
	else \
	  echo "uv could not install the packages: installing them with pip"; \
	  $(RETRY) $(BIN)/pip install -q $(PIP_NET) "$(TORCH)" && \
	  $(RETRY) $(BIN)/pip install -q $(PIP_NET) -e "$(EXTRAS)" "$(TORCH)"; \
	fi
	touch $@

install: sysdeps $(VENV)/.installed

# Debian packages: the audio renderer (libfluidsynth3, loaded in-process; the fluidsynth command
# line is the tests' reference) and its General MIDI soundfont.
sysdeps:
	@if ! command -v fluidsynth >/dev/null || ! /sbin/ldconfig -p | grep -q libfluidsynth.so.3 \
	    || [ ! -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then \
	  echo "installing fluidsynth + libfluidsynth3 + fluid-soundfont-gm (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $(RETRY) $$SUDO apt-get -o Acquire::Retries=5 update -qq && \
	  $(RETRY) $$SUDO apt-get -o Acquire::Retries=5 install -y -qq fluidsynth libfluidsynth3 fluid-soundfont-gm >/dev/null; \
	fi

# The Neo4j 5 community DBMS used by tests, built from Maven Central artifacts.
neo4j-launcher:
	scripts/neo4j-dev build

DEMO_CATALOG ?= data/demo-catalog
DEMO_HOME ?= .kgjemb
demo: install
	$(BIN)/python scripts/demo.py --catalog $(DEMO_CATALOG) --home $(DEMO_HOME)

# Real recordings: ~1.5 GB of .deb downloads (cached under data/.real-cache), ~200 tracks,
# ~12.6 h of audio. Audio features of the whole catalog take a while on 2 cores (cached after).
REAL_CATALOG ?= data/real-catalog
REAL_HOME ?= .kgjemb-real
# empty: the real preset's own epoch count (kgjemb/train/presets/real.json); REAL_EPOCHS=N overrides it
REAL_EPOCHS ?=
demo-real: install
	$(BIN)/python scripts/build_real_catalog.py --out $(REAL_CATALOG) --no-progress
	$(BIN)/kgjemb graph validate $(REAL_CATALOG) --no-progress
	$(BIN)/kgjemb graph load $(REAL_CATALOG) --home $(REAL_HOME) --prune --no-progress
	$(BIN)/kgjemb train --home $(REAL_HOME) --preset real $(if $(REAL_EPOCHS),--epochs $(REAL_EPOCHS)) --no-progress --format text
	$(BIN)/kgjemb index build --home $(REAL_HOME) --no-progress
	$(BIN)/kgjemb search --home $(REAL_HOME) -k 5 --explain "songs like Heroes Rite"
	$(BIN)/kgjemb search --home $(REAL_HOME) -k 5 --explain "music like Forest Dance"
	$(BIN)/kgjemb search --home $(REAL_HOME) -k 5 --explain "in the style of Mattias Westlund"
	$(BIN)/kgjemb search --home $(REAL_HOME) -k 5 --explain "thrash metal"

test: install neo4j-launcher
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

clean-demo:
	rm -rf $(DEMO_HOME) data/demo-model data/demo-bundle
