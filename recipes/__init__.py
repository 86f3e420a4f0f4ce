"""Recipes: thin command-line scripts over keras_hier's public API (`python -m recipes.<name> --help`)."""
