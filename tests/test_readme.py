"""The README's runnable examples run, as written, against FakeServer."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_RUNNABLE = re.compile(r"<!-- test: run -->\s*```python\n(.*?)```", re.DOTALL)


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
