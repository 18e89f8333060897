# mxforge everyday entry points. `make verilog`, `make test` and `make synth` create .venv and
# install the project into it on first use; later runs reuse it (the stamp tracks pyproject.toml).
# --no-compile: Python compiles a module when it is first imported; compiling every module of
# every dependency at install (PyTorch's thousands) doubled the set-up time (51 s -> 24 s).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mxforge-installed
# pytest workers: the suite is dominated by simulator runs; two cores, two workers.
JOBS   ?= 2
# extra pip options for the first install, e.g. PyTorch's CPU index on a machine whose pip does not
# already offer the pinned torch==2.13.0+cpu wheel (pyproject.toml, the zebra extra)
PIP_EXTRA ?=

.PHONY: all verilog test sweep synth lint bench study-mxsf study-lightnorm study-opal study-flexblock study-zebra study-onespike clean deps-apt venv

all: verilog

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile $(PIP_EXTRA) -e '.[test]'
	touch $@

venv: $(STAMP)

verilog: $(STAMP)
	$(BIN)/mxforge verilog --all -o build/rtl

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup --durations=25 tests

# The full simulation sweep: every vector of every configuration on every installed backend,
# without the interpreted simulators' cap that keeps `make test` within its budget, with
# progress (mxforge sim --sweep; --executor dask for a cluster).
sweep: $(STAMP)
	$(BIN)/mxforge sim --all --sweep

synth: $(STAMP)
	$(BIN)/mxforge synth --all --docs

lint: $(STAMP)
	$(BIN)/mxforge lint --all

bench: $(STAMP)
	$(BIN)/python -m mxforge.bench
	$(BIN)/python -m mxforge.bench_pe
	$(BIN)/python -m mxforge.bench_export

study-mxsf: $(STAMP)
	$(BIN)/python -m studies.mxsf

study-lightnorm: $(STAMP)
	$(BIN)/python -m studies.lightnorm

study-opal: $(STAMP)
	$(BIN)/python -m studies.opal

# FlexBlock's mapping and utilization: the analytical model of mxforge/mapping.py (seconds)
study-zebra: $(STAMP)
	$(BIN)/python -m studies.zebra

# One-Spike: ANN-to-SNN conversion with single-spike phase coding (PyTorch CPU, ~2 min)
study-onespike: $(STAMP)
	$(BIN)/python -m studies.onespike

study-flexblock: $(STAMP)
	$(BIN)/python -m studies.flexblock

# Optional Debian tools: Icarus Verilog (third simulator), OpenSTA and the OSU 0.18 um Liberty
# (timing, power, um^2). Without them those tests skip with the reason.
deps-apt:
	apt-get update
	apt-get install -y iverilog opensta qflow-tech-osu018

clean:
	rm -rf build sim_build results.xml .pytest_cache
