# `make test` and `make reproduce` set everything up themselves on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CUDA builds of these also run on the CPU; pip here takes them from local disk.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
PROFILE ?= mini

.PHONY: venv test reproduce lab clean mutation

PIP := $(BIN)/python -m pip install --quiet

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) $(TORCH_PINS)
	$(PIP) -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	# the package's floors (pyproject.toml, [tool.importlinter]): imports only go down
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "not slower" tests
	# the notebooks under the smoke profile; nbval compares the "# NBVAL_CHECK_OUTPUT" cells only
	PAPERLIB_PROFILE=smoke $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

reproduce: $(STAMP)
	$(BIN)/paperlib reproduce --profile $(PROFILE)

# Mutation testing of the study's core (docs/mutation.md; slow, not in CI). MUTANTS narrows it,
# e.g. MUTANTS='paperlib.report.score.*'; the survivors go to mutants/survivors.md.
MUTATION_STAMP := $(VENV)/.mutation-installed
MUTANTS ?=
MUTATION_TIMEOUT ?= 6h
$(MUTATION_STAMP): $(STAMP)
	$(PIP) -e '.[test,mutation]'
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)
	nice -n 19 timeout $(MUTATION_TIMEOUT) $(BIN)/mutmut run $(MUTANTS)
	$(BIN)/python tests/mutation/report.py $(BIN)/mutmut

# JupyterLab from the venv, on the notebooks (open one, set its parameters cell, run it)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean:
	rm -rf $(VENV) runs results data/mini data/smoke data/cache mutants
