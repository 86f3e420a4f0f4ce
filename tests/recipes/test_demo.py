"""The demo tour runs end to end on the embedded data and shows the hierarchy and the data summary."""

import pytest

from recipes import demo


def test_demo_output(capsys):
    # The recipe steps have their own tests (tests/recipes).
    demo.main(["--skip-hiernet", "--skip-hgr", "--skip-multilabel", "--skip-long-tail", "--skip-hirl"])
    out = capsys.readouterr().out
    assert "artifact (n00021939)" in out
    assert "│   │   ├── Ankle boot (n02872752)  [9]" in out
    assert "level 2 (3 groups): clothing:" in out
    assert "train: (60000, 28, 28) uint8" in out
    assert "T-shirt/top  -> Shirt" in out
    assert "Coat          6000  many-shot" in out
    assert "demo finished" in out


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        demo.main(["--help"])
    assert e.value.code == 0 and "--no-embeddings" in capsys.readouterr().out


SKIP_ALL = ["--skip-hiernet", "--skip-hgr", "--skip-multilabel", "--skip-long-tail", "--skip-hirl"]


def test_each_step_prints_its_expected_and_elapsed_time(monkeypatch, capsys, tmp_path):
    from recipes import hgr_zero_shot, report

    ran = []
    monkeypatch.setattr(hgr_zero_shot, "main", lambda argv: ran.append(argv) or {"seconds": 1.0})
    monkeypatch.setattr(report, "write_report", lambda folder, metrics, seconds, intro, timings: str(tmp_path / "r.md"))
    timings = demo.main(["--no-embeddings", "--skip-hiernet", "--skip-multilabel", "--skip-long-tail", "--skip-hirl",
                         "--output", str(tmp_path)])
    assert list(timings) == ["introduction", "hgr", "total"] and ran[0][-2:] == ["--output", str(tmp_path / "hgr")]
    assert timings["total"] >= timings["introduction"] + timings["hgr"] - 1e-6
    out = capsys.readouterr().out
    expected = demo._minutes(demo.EXPECTED_SECONDS["hgr"])
    assert f"[1/1] expected {expected};" in out and f"about {expected} left" in out
    assert f"[1/1] hgr: 0 s (expected {expected})" in out
    assert "demo finished in" in out and "(introduction " in out and ", hgr 0 s)" in out
    assert report.timing_summary({"introduction": 19.2, "hgr": 135.4, "total": 160.0}) == "introduction 19 s, hgr 135 s"


def test_demo_time_benchmark_table(capsys):
    from benchmarks import demo_time

    ratios = demo_time.main(["--demo-args", " ".join(["--no-embeddings"] + SKIP_ALL)])
    assert list(ratios) == ["introduction: measured / expected seconds", "total: measured / expected seconds"]
    assert all(r > 0 for r in ratios.values())
    assert "part of the tour" in capsys.readouterr().out
