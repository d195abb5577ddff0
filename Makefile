# Two entry points for people: `make demo` and `make test`. Everything else is what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export SOLCX_BINARY_PATH := $(CURDIR)/.tools/solcx

.PHONY: demo test install engines build bench clean catalogues i18n-extract

demo: build
	$(BIN)/healthsilk demo

test: build
	$(BIN)/pytest

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

engines:
	bash network/engines/build.sh

build: install engines catalogues
	$(BIN)/python -m ledger.compile install
	$(BIN)/python -m ledger.compile build

# Messages in en, zh_Hans and fr (i18n/): the .po catalogues are the source, the .mo files are built from them.
# `make test` checks them (tests/i18n): every id translated in all three, placeholders kept.
I18N_DOMAIN := healthsilk
I18N_DIR := i18n/locales
I18N_SOURCES := api care i18n ledger migrations network records wallet bench
catalogues: $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -d $(I18N_DIR) -D $(I18N_DOMAIN)

# After code changes: collect every _("...") / N_("...") message id, merge into the three catalogues (new ids arrive
# empty; English ones are filled with their id), then translate the empty fr and zh_Hans entries and `make catalogues`.
i18n-extract:
	$(BIN)/pybabel extract -F i18n/babel.cfg -k N_ --no-wrap --sort-by-file --add-location=file --project=healthsilk --version=0.1.0 --copyright-holder=healthsilk --msgid-bugs-address=i18n@healthsilk.dev -o $(I18N_DIR)/$(I18N_DOMAIN).pot $(I18N_SOURCES)
	$(BIN)/pybabel update --no-wrap --ignore-obsolete --no-fuzzy-matching -i $(I18N_DIR)/$(I18N_DOMAIN).pot -d $(I18N_DIR) -D $(I18N_DOMAIN)
	$(BIN)/python -m i18n.catalogues english
	$(BIN)/python -m i18n.catalogues missing

bench: build
	$(BIN)/python -m bench.gas --json

clean:
	rm -rf $(VENV) node_modules artifacts build .tools
