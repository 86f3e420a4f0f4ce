# Shortcuts for the two README commands (`make` may be missing on a fresh Debian machine: the README's
# commands do the same with bash alone).
.PHONY: install demo test

install:
	bash scripts/install.sh

demo: install
	.venv/bin/python -m recipes.demo

test: install
	.venv/bin/python -m pytest
