# Two commands matter: `make demo` runs the platform, `make test` installs what tests need and runs them.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.installed

.PHONY: demo test platform bench lint system-deps lock clean

$(STAMP): pyproject.toml constraints.txt
	@$(PY) -m venv --help >/dev/null 2>&1 && $(PY) -c 'import ensurepip' 2>/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

system-deps:
	@command -v redis-server >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server)

demo: $(STAMP) system-deps
	$(BIN)/python -m sim.demo

platform: $(STAMP) system-deps
	$(BIN)/python -m actors.platform

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP) system-deps
	$(BIN)/python -m sim.bench pipeline --seconds 60 --json

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy core adapters actors sim

lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) var
