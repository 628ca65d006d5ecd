# dockyard: `make demo` shows it working, `make test` runs the whole suite (as root, Debian 12).
SHELL := /bin/bash
VENV := .venv
DOCKYARD := $(VENV)/bin/dockyard
PYTEST_ARGS ?=

.PHONY: setup setup-test demo test acceptance bench clean

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh test

demo: setup
	@scripts/demo.sh

test: setup-test
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests

acceptance: setup-test
	@scripts/acceptance.sh

bench: setup-test
	@for b in $$(ls benchmarks/*.py | grep -v common); do echo "== $$b"; $(VENV)/bin/python $$b; done

clean:
	rm -rf $(VENV) build src/*.egg-info test-artifacts
