"""The package as an index shows it and pip installs it: the wheel's metadata (built
with the project's own backend), its extras against the README and the example
notebook, and a long description whose links work on the package page."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytest.importorskip("hatchling")

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
NAME = canonicalize_name(PROJECT["name"])


_BUILD = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from this checkout by the build backend of pyproject.toml."""
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(  # noqa: S603 - our own interpreter and backend
        [sys.executable, "-c", _BUILD, str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out / built.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(name).decode())


def test_the_metadata_carries_the_license_and_the_wheel_its_text(
    wheel: Path, metadata: Message
) -> None:
    # What `pip show uprock-async` prints as its license (pip >= 25.1 reads
    # License-Expression, the field that replaces License since metadata 2.4).
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    with zipfile.ZipFile(wheel) as archive:
        [licence] = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert "MIT License" in archive.read(licence).decode()


def test_project_urls_list_only_pages_that_exist(metadata: Message) -> None:
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    assert all(url.startswith("https://") for url in urls.values()), urls
    # The project publishes no changelog or documentation site yet (the README is
    # the package page): add these labels only with a URL that resolves.
    assert not {"Changelog", "Documentation", "Homepage"} & set(urls)
    assert not any("pypi.org/project/uprock-async" in url for url in urls.values())


def test_the_long_description_is_the_readme_with_no_relative_link(metadata: Message) -> None:
    assert metadata["Description-Content-Type"] == "text/markdown"
    description = metadata.get_payload()
    assert isinstance(description, str)
    assert description.strip() == README.strip()
    # On the package index a relative link (or an in-page anchor: no heading ids
    # there) leads nowhere.
    targets = re.findall(r"\]\(\s*<?([^)\s>]+)", description)
    targets += re.findall(r"(?:href|src)=[\"']([^\"']+)", description)
    dead = [t for t in targets if not t.startswith(("https://", "http://", "mailto:"))]
    assert not dead, dead


def _extras_named_in_readme() -> set[str]:
    named: set[str] = set()
    for group in re.findall(r"uprock-async\[([^\]]*)\]", README):
        named.update(part.strip() for part in group.split(","))
    return named


def _extras_table() -> set[str]:
    """The first column of the README's table of extras (under the install lines)."""
    table = README.split("| extra | gives |", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", table, re.MULTILINE))


def test_every_extra_the_readme_names_exists_and_each_is_in_its_table() -> None:
    assert _extras_named_in_readme() - set(EXTRAS) == set()
    assert _extras_table() == set(EXTRAS)
    first_install = next(line for line in README.splitlines() if line.startswith("pip install"))
    assert "aiohttp, msgspec and anyio" in first_install  # what the bare install gives


def _closure(extra: str) -> set[str]:
    """The distributions ``pip install 'uprock-async[extra]'`` adds, self-references
    (``uprock-async[frames]``) followed."""
    found: set[str] = set()
    for spec in EXTRAS[extra]:
        requirement = Requirement(spec)
        if canonicalize_name(requirement.name) == NAME:
            for inner in requirement.extras:
                found |= _closure(inner)
        else:
            found.add(canonicalize_name(requirement.name))
    return found


def test_the_all_extra_installs_every_other_one() -> None:
    others = set().union(*(_closure(extra) for extra in EXTRAS if extra != "all"))
    assert _closure("all") == others


def _notebook_needs() -> set[str]:
    """The third-party distributions ``examples/notebook.ipynb`` uses."""
    notebook = json.loads((ROOT / "examples" / "notebook.ipynb").read_text(encoding="utf-8"))
    source = "\n".join(
        "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"
    )
    # IPython's top-level await is not Python at module level: parse it as a body.
    body = "\n".join(f"    {line}" for line in source.split("\n"))
    modules: set[str] = set()
    for node in ast.walk(ast.parse(f"async def _cells():\n{body}")):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    owners = importlib.metadata.packages_distributions()
    needs: set[str] = {
        canonicalize_name(owners[top][0])
        for top in {module.partition(".")[0] for module in modules}
        if top not in sys.stdlib_module_names and top != "uprock_async"
    }
    if "uprock_async.frames" in modules:
        needs.add("pyarrow")  # every converter builds an Arrow table first
    if "to_pandas" in source:
        needs.add("pandas")
    if "progress=True" in source:
        needs |= {"tqdm", "ipywidgets"}  # tqdm.auto draws a widget in a notebook
    return needs


def test_the_notebook_extra_installs_everything_the_example_notebook_uses() -> None:
    needs = _notebook_needs()
    assert {"pandas", "pyarrow", "tqdm", "ipywidgets"} <= needs  # the check sees them
    core = {canonicalize_name(Requirement(spec).name) for spec in PROJECT["dependencies"]}
    assert needs - core - _closure("notebook") == set()
