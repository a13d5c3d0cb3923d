"""examples/notebook.ipynb runs top to bottom in a real kernel, offline, cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"


@pytest.mark.timeout(180)
def test_the_example_notebook_executes_without_errors_or_warnings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no migration warning from jupyter_core
    monkeypatch.setenv("PYTHONWARNINGS", "error")  # the kernel too: a warning fails the run
    monkeypatch.chdir(tmp_path)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": tmp_path}}
    )
    client.execute()

    problems = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                problems.append(f"cell {index}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                problems.append(f"cell {index} wrote to stderr: {output.text[:300]}")
    assert not problems, "\n".join(problems)

    texts = "\n".join(
        str(output.get("data", {}).get("text/html", "")) + str(output.get("text", ""))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    assert "ClientStats" in texts  # client.stats() rendered as HTML
    assert "Crawl " in texts  # the crawl's HTML view
    assert "job.status" in texts  # the DataFrame of details
    plain = [
        str(o.get("data", {}).get("text/plain", ""))
        for c in notebook.cells
        for o in c.get("outputs", [])
    ]
    assert "('completed', 1500)" in plain  # the blocking client reached the threaded fake
    assert "test-key-0-0123456789abcdef" not in texts  # FakeServer(seed=0)'s key


@pytest.mark.timeout(120)
def test_progress_true_draws_a_text_bar_without_warnings_when_ipywidgets_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.chdir(tmp_path)
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("import sys\nsys.modules['ipywidgets'] = None  # missing"),
            nbformat.v4.new_code_cell(
                "import warnings\n"
                "warnings.simplefilter('error')\n"
                "from uprock_async import fan_out\n"
                "async def double(x):\n"
                "    return 2 * x\n"
                "async with fan_out(double, range(50), progress=True) as outcomes:\n"
                "    results = [o.unwrap() async for o in outcomes]\n"
                "len(results)"
            ),
        ]
    )
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=60).execute()
    outputs = notebook.cells[1].outputs
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "IProgress" not in text
    assert "Warning" not in text
    assert "50/50" in text  # tqdm's text bar, on stderr
    assert outputs[-1]["data"]["text/plain"] == "50"


@pytest.mark.timeout(120)
def test_a_blocking_client_in_a_kernel_reaches_a_fake_on_its_own_thread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("PYTHONWARNINGS", "error")
    monkeypatch.chdir(tmp_path)
    cell = nbformat.v4.new_code_cell
    notebook = nbformat.v4.new_notebook(
        cells=[
            cell(  # the README's form: one block, one cell
                "from uprock_async import sync\n"
                "from uprock_async.testing import FakeServer\n"
                "with FakeServer.in_thread(seed=0) as server:\n"
                "    ids = server.add_jobs(3, headers=1, cookies=0)\n"
                "    with sync.UprockClient(server.api_key, base_url=server.uprock_url,\n"
                "                           timeout=10) as client:\n"
                "        details = client.job_details(ids)\n"
                "[d.job.status for d in details]"
            ),
            cell(  # the notebook's form: started in one cell …
                "running = FakeServer.in_thread(seed=1)\n"
                "server = running.start()\n"
                "client = sync.UprockClient(server.api_key, base_url=server.uprock_url, timeout=10)"
            ),
            cell("client.job_detail(server.add_jobs(1)[0]).job.status"),  # … used in others …
            cell("client.close()\nrunning.close()\nrunning.running"),  # … closed in the last
        ]
    )
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=60).execute()
    results = [
        next(o["data"]["text/plain"] for o in c.outputs if o.output_type == "execute_result")
        for c in (notebook.cells[0], notebook.cells[2], notebook.cells[3])
    ]
    assert results == ["['completed', 'completed', 'completed']", "'completed'", "False"]
    for c in notebook.cells:
        assert not [o for o in c.outputs if o.output_type == "error" or o.get("name") == "stderr"]
