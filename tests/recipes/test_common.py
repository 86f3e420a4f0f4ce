"""recipes._common: the --precision / --strategy flags every recipe takes, and the runtime they set up."""

import argparse

import keras
import numpy as np
import pytest

from recipes import _common


def _args(*argv):
    parser = argparse.ArgumentParser()
    _common.add_runtime_flags(parser)
    parser.add_argument("--output", default="out")
    return parser.parse_args(list(argv))


def test_flags_and_the_default_runtime():
    args = _args()
    assert (args.precision, args.strategy) == ("auto", "auto")
    with pytest.raises(SystemExit):
        _args("--strategy", "tpu")
    assert _common.run_under_runtime(_args("--precision", "float32", "--strategy", "none"),
                                     lambda a, precision: (a.output, precision)) == ("out", "float32")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_number_types_name_the_range():
    assert _common.POSITIVE_INT("3") == 3 and _common.NON_NEGATIVE_INT("0") == 0 and _common.FRACTION("1") == 1.0
    assert _common.SEEDS(" 0, 2,") == [0, 2] and _common.number_list(float, 0, low_open=True)("0.1,1") == [0.1, 1.0]
    for parse, text, message in ((_common.POSITIVE_INT, "0", r"\[1, inf\)"), (_common.POSITIVE_INT, "1.5", "integer"),
                                 (_common.POSITIVE_FLOAT, "-1", r"\(0, inf\)"), (_common.POSITIVE_FLOAT, "nan", "must"),
                                 (_common.FRACTION, "1.5", r"\[0, 1\]"), (_common.SEEDS, ",", "comma-separated"),
                                 (_common.SEEDS, "0,-1", r"\[0, inf\)"), (_common.SEEDS, "3,1,3", "3 repeated")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse(text)


@pytest.mark.parametrize("recipe, argv", [
    ("hiernet", ["--backbone-epochs", "-1"]), ("hiernet", ["--batch-size", "0"]), ("hiernet", ["--p-min", "2"]),
    ("multilabel_zsl", ["--epochs", "-1"]), ("multilabel_zsl", ["--graph-units", "8,0"]),
    ("long_tail", ["--seeds", ","]), ("long_tail", ["--ks", "20,x"]), ("long_tail", ["--epochs", "0"]),
    ("hirl", ["--num-prototypes", "300,0"]), ("hirl", ["--train-size", "-5"]), ("hirl", ["--momentum", "1.5"]),
    ("hirl", ["--seeds", "0,0"]), ("hgr_zero_shot", ["--seeds", "1,2,1"]),
    ("hgr_zero_shot", ["--seeds", ""]), ("hgr_zero_shot", ["--lr", "0"]), ("hgr_zero_shot", ["--outer-ratio", "1.5"]),
])
def test_recipes_refuse_bad_counts_before_running(recipe, argv, capsys):
    import importlib

    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(f"recipes.{recipe}").parse_args(argv)
    assert exit_info.value.code == 2 and f"argument {argv[0]}" in capsys.readouterr().err


def test_split_halves_are_fixed_stratified_and_cut_to_size():
    from recipes._common import split_halves

    labels = np.repeat(np.arange(4), 50)
    a, b = split_halves(labels)
    assert len(a) == len(b) == 100 and not set(a) & set(b)
    assert np.bincount(labels[a]).tolist() == [25] * 4
    small_a, small_b = split_halves(labels, 40)
    assert len(small_a) == len(small_b) == 40 and set(small_a) <= set(a) and set(small_b) <= set(b)
    assert np.bincount(labels[small_b]).tolist() == [10] * 4
    assert [h.tolist() for h in split_halves(labels, 40)] == [small_a.tolist(), small_b.tolist()]  # fixed


TRAINING_RECIPES = ("hiernet", "hgr_zero_shot", "multilabel_zsl", "long_tail", "hirl")


@pytest.mark.parametrize("name", TRAINING_RECIPES)
def test_one_command_line_for_every_recipe(name, capsys):
    """The flags every training recipe shares, with their defaults shown by --help."""
    import importlib

    recipe = importlib.import_module(f"recipes.{name}")
    with pytest.raises(SystemExit):
        recipe.parse_args(["--help"])
    text = capsys.readouterr().out
    for flag in ("--seeds", "--precision", "--strategy", "--steps-per-epoch", "--max-steps", "--resume",
                 "--tensorboard", "--output", "--no-export", "--data-dir", "--epochs", "--batch-size"):
        assert flag in text, (name, flag)
    assert text.count("(default:") >= 10 and "--seed " not in text and "--classifier-blocks" not in text
    args = recipe.parse_args(["--seeds", "3", "--max-steps", "2"])
    assert args.seeds == [3] and args.max_steps == 2 and args.command.endswith("--seeds 3 --max-steps 2")


def test_console_scripts_run_from_anywhere(tmp_path):
    """`keras-hier-*` console scripts (setup.py) work outside the repository, where `recipes` is not importable."""
    import os
    import subprocess
    import sys

    bin_dir = os.path.dirname(sys.executable)
    for script in ("keras-hier-demo", "keras-hier-hiernet", "keras-hier-hgr", "keras-hier-multilabel",
                   "keras-hier-long-tail", "keras-hier-hirl", "keras-hier-report", "keras-hier-export"):
        done = subprocess.run([os.path.join(bin_dir, script), "--help"], cwd=tmp_path, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": ""}, timeout=120)
        assert done.returncode == 0, (script, done.stderr[-2000:])
        assert done.stdout.startswith(f"usage: {script}"), done.stdout[:200]


def test_console_scripts_exit_zero_after_a_run(monkeypatch):
    """A recipe's `main` returns its metrics; the console script must still exit 0 (sys.exit(dict) is status 1)."""
    from recipes import _cli, hiernet

    monkeypatch.setattr(hiernet, "main", lambda: {"backbone_accuracy": 0.9})
    assert _cli.hiernet() == 0


def test_export_names_what_is_missing(tmp_path):
    """`python -m recipes.export RUN` on a folder without a JAX run's serving.keras says what to give it."""
    from recipes import export

    with pytest.raises(SystemExit, match="serving.keras does not exist: give the --output folder of a recipe run"):
        export.main([str(tmp_path)])


def test_one_seed_shows_no_spread():
    from recipes._common import over_seeds, spreads, stat_text

    stat = {"mean": 0.81432, "std": 0.0081}
    assert stat_text(stat, [0]) == "81.43" and stat_text(stat, [0, 1, 2]) == "81.43 ± 0.81"
    assert stat_text(stat, [0], 1.0, 4, 10) == "    0.8143"
    assert over_seeds([0]) == "seed 0" and over_seeds([0, 1, 2]) == "mean ± sd over 3 seeds"
    assert spreads({"a": 0.0}, [0]) is None and spreads({"a": 0.1}, [0, 1]) == {"a": 0.1}


def test_the_commit_recorded_is_the_one_the_run_started_with(monkeypatch):
    """A run of hours writes its metrics.json when it ends; the checkout may have moved on by then. The commit is read
    when the run starts and kept."""
    import subprocess

    from recipes import _common

    calls = []

    def run(argv, **kwargs):  # git rev-parse: the commit; git status: no changes
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, stdout="abc1234\n" if argv[1] == "rev-parse" else "")

    _common.git_commit.cache_clear()
    monkeypatch.setattr(subprocess, "run", run)
    try:
        first = _common.git_commit()
        assert first == "abc1234" and len(calls) == 2
        assert _common.git_commit() == first and len(calls) == 2  # not read again
    finally:
        _common.git_commit.cache_clear()
