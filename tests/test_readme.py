"""The README's runnable examples run, as written, against FakeServer: scripts
(``<!-- test: run -->``) with the interpreter, test modules (``<!-- test: pytest
-->``) with pytest in a folder of their own, no configuration of ours around."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_RUNNABLE = re.compile(r"<!-- test: run -->\s*```python\n(.*?)```", re.DOTALL)
_TESTS = re.compile(r"<!-- test: pytest -->\s*```python\n(.*?)```", re.DOTALL)


def _examples() -> list[str]:
    return _RUNNABLE.findall(README.read_text(encoding="utf-8"))


def test_readme_has_runnable_examples() -> None:
    assert len(_examples()) >= 3


@pytest.mark.timeout(120)
@pytest.mark.parametrize("index", range(len(_examples())))
def test_readme_example_runs(index: int, tmp_path: Path) -> None:
    code = _examples()[index]
    result = subprocess.run(  # noqa: S603 - our own interpreter, our own README
        [sys.executable, "-W", "error", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "the example printed nothing"


def _test_modules() -> list[str]:
    return _TESTS.findall(README.read_text(encoding="utf-8"))


def test_readme_has_a_test_example() -> None:
    assert _test_modules()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("index", range(len(_test_modules())))
def test_readme_test_example_passes_under_plain_pytest(index: int, tmp_path: Path) -> None:
    # As a user runs it: their own folder, no conftest or settings of this
    # repository (the empty pytest.ini only stops pytest looking further up).
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_readme_example.py").write_text(_test_modules()[index])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-W", "error", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\b1 passed\b", result.stdout), result.stdout[-2000:]  # not skipped
