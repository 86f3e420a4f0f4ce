"""The console scripts of setup.py (`keras-hier-hiernet`, ...): each runs a recipe's `main` on the command line and
exits 0 (a recipe's `main` returns its metrics, which `sys.exit` would print and turn into exit status 1)."""

import importlib


def _script(module):
    """The entry point that runs `recipes.<module>` and returns exit status 0."""

    def run():
        importlib.import_module(f"{__package__}.{module}").main()
        return 0

    run.__doc__ = f"`python -m recipes.{module}` as a console script."
    return run


demo = _script("demo")
hiernet = _script("hiernet")
hgr = _script("hgr_zero_shot")
multilabel = _script("multilabel_zsl")
long_tail = _script("long_tail")
hirl = _script("hirl")
report = _script("report")
export = _script("export")
