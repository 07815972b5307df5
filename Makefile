# Agente Vendedor — two commands do everything: `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0

.PHONY: help install install-dev browser setup run stop redis-start test lint bench bench-import clean telegram

help:
	@echo "make run    instala, prepara la base de datos y el índice, y arranca el servidor (http://127.0.0.1:8001)"
	@echo "make test   instala lo necesario y pasa lint + tests"
	@echo "make bench  mide la búsqueda, la conversación y la caché (y la importación de 5.093 productos)"
	@echo "make stop   para el Redis Stack que arrancó make run"
	@echo "make telegram  el bot de Telegram por long polling (necesita TELEGRAM_TOKEN en .env)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, by exact version: pip takes the local CPU wheel instead of a multi-GB CUDA build.
$(VENV)/.runtime: pyproject.toml scripts/requirements.py | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/python scripts/requirements.py > $(VENV)/requirements.txt
	$(BIN)/pip install -q -r $(VENV)/requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/python scripts/requirements.py dev > $(VENV)/requirements-dev.txt
	$(BIN)/pip install -q -r $(VENV)/requirements-dev.txt
	touch $@

install: $(VENV)/.runtime

install-dev: $(VENV)/.dev browser

# Headless Chromium for tests/integration/test_playground.py: Debian's packages, never a downloaded browser. Checked on every
# run (two file tests) and installed only when missing; `apt-get update` only if the first install fails.
CHROMIUM      ?= /usr/bin/chromium
CHROMEDRIVER  ?= /usr/bin/chromedriver
APT_BROWSER   := chromium chromium-driver
APT_INSTALL   := env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0

browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -x $(CHROMEDRIVER) ]; then \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		echo "Instalando $(APT_BROWSER) con apt-get (tests del navegador)..."; \
		$$sudo $(APT_INSTALL) $(APT_BROWSER) >/dev/null 2>&1 \
			|| { $$sudo apt-get update -qq >/dev/null && $$sudo $(APT_INSTALL) $(APT_BROWSER) >/dev/null; }; \
	fi

.env:
	@sed "s|^ADMIN_API_KEY=.*|ADMIN_API_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(24))')|" .env.example > .env
	@echo "Creado .env con una clave de administración nueva (ADMIN_API_KEY): consúltala en ese fichero."

setup: install .env
	$(BIN)/python -m manage setup

# HOST and PORT (environment, `make run PORT=9000` or .env) reach the server through settings.py;
# make passes command-line variables to the recipe's environment by itself.
# Redis Stack (semantic cache, optional shared memory) runs from var/redis-stack/ on 127.0.0.1:$(REDIS_PORT).
# Where it cannot be installed or started (exit 2: another OS, no apt), the server runs on the in-process cache.
REDIS_PORT ?= 6380
export REDIS_PORT

redis-start: install
	bash scripts/redis-stack.sh start

stop:
	bash scripts/redis-stack.sh stop

run: setup
	@if bash scripts/redis-stack.sh start; then backend=redis; else rc=$$?; [ $$rc -eq 2 ] || exit $$rc; \
		echo "Redis Stack no está disponible en esta máquina: el servidor usará la caché en memoria (CACHE_BACKEND=memory)."; \
		backend=memory; fi; \
	export CACHE_BACKEND=$${CACHE_BACKEND:-$$backend}; exec $(BIN)/python -m server

# The Telegram bot by long polling (no public URL needed); the webhook mode runs inside `make run` instead.
telegram: setup
	@if bash scripts/redis-stack.sh start; then backend=redis; else rc=$$?; [ $$rc -eq 2 ] || exit $$rc; \
		backend=memory; fi; \
	export CACHE_BACKEND=$${CACHE_BACKEND:-$$backend}; exec $(BIN)/python -m telegram_bot poll

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install-dev lint
	$(BIN)/python -m pytest

bench: install-dev
	$(BIN)/python -m bench

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
