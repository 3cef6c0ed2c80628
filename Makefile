# The README's two commands: `make demo` (the whole offline recipe) and `make test`.
# Both set up .venv (and the Debian packages) first; the set-up is idempotent and quick the second time.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo test bench clean-demo

setup:
	@bash scripts/setup.sh

demo: setup
	bash egs/mini_tts/run.sh --config conf/demo.conf

test: setup
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/features.py

clean-demo:
	rm -rf egs/mini_tts/data egs/mini_tts/exp egs/mini_tts/dump
