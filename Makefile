# kgjemb: two commands.
#   make demo   build the demo catalog (cached), load the embedded graph, train, index, query
#   make test   install everything (venv, pip, apt, Maven-built Neo4j) and run the test suite
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install sysdeps neo4j-launcher demo test clean-demo

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools

# torch is installed first with its exact pin so that nothing resolves an unpinned torch.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[cpu,serve,milvus,dev]" "$(TORCH)"
	touch $@

install: sysdeps $(VENV)/.installed

# Debian packages: the audio renderer and its General MIDI soundfont.
sysdeps:
	@if ! command -v fluidsynth >/dev/null || [ ! -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then \
	  echo "installing fluidsynth + fluid-soundfont-gm (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq fluidsynth fluid-soundfont-gm >/dev/null; \
	fi

# The Neo4j 5 community DBMS used by tests, built from Maven Central artifacts.
neo4j-launcher:
	scripts/neo4j-dev build

DEMO_CATALOG ?= data/demo-catalog
DEMO_HOME ?= .kgjemb
demo: install
	$(BIN)/python scripts/demo.py --catalog $(DEMO_CATALOG) --home $(DEMO_HOME)

test: install neo4j-launcher
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

clean-demo:
	rm -rf $(DEMO_HOME) data/demo-model data/demo-bundle
