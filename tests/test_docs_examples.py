"""Every Python example in README.md and docs/*.md runs as written: each fenced block alone, in a fresh namespace
and an empty working folder (what a reader who copies it gets)."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
            line = text[: match.start()].count("\n") + 1
            yield pytest.param(match.group(1), id=f"{page.relative_to(ROOT)}:{line}")


EXAMPLES = list(blocks())


def test_every_page_with_an_api_has_an_example():
    pages = {example.id.split(":")[0] for example in EXAMPLES}
    for page in ("README.md", "docs/hiernet.md", "docs/hgr.md", "docs/multilabel.md", "docs/long_tail.md",
                 "docs/hirl.md", "docs/serving.md", "docs/training.md"):
        assert page in pages, page
    assert len(EXAMPLES) >= 17


@pytest.mark.parametrize("code", EXAMPLES)
def test_example_runs(code, tmp_path, monkeypatch):
    import keras

    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    exec(compile(code, "<example>", "exec"), {"__name__": "__example__"})


def test_every_shell_command_runs_in_a_fresh_shell():
    """Commands in README.md and docs/ name the environment's interpreter (`.venv/bin/python`), which a fresh shell
    after the install command has; a bare `python -m recipes...` there fails with `No module named 'keras'`."""
    bare = re.compile(r"(?<![\w/.\-])(python3?|pip|pytest) (-m |-c |install )")
    found = []
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            if bare.search(line) and not line.lstrip().startswith((">>>", "...")):
                found.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not found, "\n".join(found)
