"""benchmarks.run_all: one table of the ratios the benchmarks return; a failing benchmark is a row, not a crash."""

import math

import pytest

from benchmarks import run_all


def test_one_table_of_ratios(monkeypatch, capsys):
    rows = run_all.main(["--only", "import_time"])
    assert [r[1] for r in rows] == ["import keras_hier / import numpy time", "import keras_hier / import tensorflow time"]
    assert all(r[2] > 0 for r in rows) and rows[1][2] < 1  # keras_hier imports faster than TensorFlow
    assert "import keras_hier / import numpy time" in capsys.readouterr().out.split("benchmark")[-1]

    def broken(argv):
        raise RuntimeError("no data")

    import benchmarks.import_time

    monkeypatch.setattr(benchmarks.import_time, "main", broken)
    (row,) = run_all.main(["--only", "import_time"])
    assert row[1].startswith("failed: RuntimeError: no data") and math.isnan(row[2])
    with pytest.raises(SystemExit, match="--only"):
        run_all.main(["--only", "nothing"])
