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
