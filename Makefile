# MLFF Error Atlas. `make run` and `make test` install whatever is missing, then do their job.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
APT_PACKAGES := chromium chromium-driver libxc-dev libopenblas-dev
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint lock install system-deps venv gpaw sevenn deepmd bench reference reference-ci score-default checkpoint-default clean-venv

# gunicorn + one job worker; RUN_ARGS="--read-only", "--host 0.0.0.0" (needs auth or read-only), "--dev" (Flask's server)
run: install
	bash scripts/run.sh $(RUN_ARGS)

test: install lint
	$(BIN)/python -m pytest -q

# static checks, configured in pyproject.toml: ruff (pycodestyle, pyflakes, import order, bugbear,
# pyupgrade) and mypy on analysis/ and components/. `ruff format --check` is not run yet.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy analysis components

install: system-deps venv gpaw sevenn deepmd

# Debian packages: headless Chromium + driver for browser tests and figure export, libxc/OpenBLAS for GPAW.
system-deps: $(VENV)/.system-deps
$(VENV)/.system-deps:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "installing Debian packages: $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	fi
	@mkdir -p $(VENV) && touch $@

# .venv is requirements.lock (the whole environment pinned; `make lock` writes it from requirements.txt):
# every package without its dependencies (the lock lists them all), then pip checks that they fit.
venv: $(VENV)/.requirements
$(VENV)/.requirements: requirements.lock
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --no-deps -r requirements.lock
	$(BIN)/python -m pip check
	@touch $@

# Refresh the three lock files after changing a pin (requirements.txt, scripts/sevenn_env.sh,
# scripts/deepmd_env.sh): pip resolves the pins into the environments, then they are frozen;
# UPGRADE=1 also moves every unpinned package to the newest version the pins allow. Test, then commit.
lock:
	bash scripts/lock.sh

# GPAW built from source with MPI off, its PAW setups, and a generated Tc setup.
gpaw: venv
	bash scripts/install_gpaw.sh

# SevenNet-0 needs e3nn >= 0.5 (mace-torch pins 0.4.4): it gets a venv of its own.
sevenn:
	bash scripts/sevenn_env.sh

# deepmd-kit 3.x (PyTorch backend) for the models fitted per element: its own venv too (see the script).
deepmd:
	bash scripts/deepmd_env.sh

bench: install
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_smearing.py

# score the embedded default data with the offline universal models and ship the predictions
score-default: install sevenn
	bash scripts/score_default.sh

# commit the default build as it stands, with predictions rescored to match it (new frames only)
checkpoint-default: install sevenn
	bash scripts/checkpoint_default.sh

# the embedded default reference set (hours of DFT; one process per core; resumable: rerun to continue)
reference: install
	$(BIN)/python -m analysis build-reference --tier default --log logs/build-reference.log

reference-ci: install
	$(BIN)/python -m analysis build-reference --tier ci

clean-venv:
	rm -rf $(VENV) .venv-sevenn .venv-deepmd
