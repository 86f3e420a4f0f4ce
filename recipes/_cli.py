"""The console scripts of setup.py (`keras-hier-hiernet`, ...): each runs a recipe's `main` on the command line and
exits 0 (a recipe's `main` returns its metrics, which `sys.exit` would print and turn into exit status 1)."""

import importlib


def _run(module):
    importlib.import_module(f"{__package__}.{module}").main()
    return 0


def demo():
    """`keras-hier-demo`: `python -m recipes.demo`."""
    return _run("demo")


def hiernet():
    """`keras-hier-hiernet`: `python -m recipes.hiernet`."""
    return _run("hiernet")


def hgr():
    """`keras-hier-hgr`: `python -m recipes.hgr_zero_shot`."""
    return _run("hgr_zero_shot")


def multilabel():
    """`keras-hier-multilabel`: `python -m recipes.multilabel_zsl`."""
    return _run("multilabel_zsl")


def long_tail():
    """`keras-hier-long-tail`: `python -m recipes.long_tail`."""
    return _run("long_tail")


def hirl():
    """`keras-hier-hirl`: `python -m recipes.hirl`."""
    return _run("hirl")


def report():
    """`keras-hier-report`: `python -m recipes.report`."""
    return _run("report")
