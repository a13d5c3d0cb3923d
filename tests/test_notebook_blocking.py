"""A blocking client in a real kernel (nbclient), against a FakeServer awaited in the
same kernel: the call blocks the loop that serves the fake, so it cannot get an
answer. It must not hang silently: it warns, then fails with an error that says
what happened and how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


@pytest.mark.timeout(120)
def test_a_blocking_call_against_a_fake_on_the_kernels_loop_says_why_it_gets_no_answer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no migration warning from jupyter_core
    monkeypatch.chdir(tmp_path)
    cell = nbformat.v4.new_code_cell
    notebook = nbformat.v4.new_notebook(
        cells=[
            cell(
                "from uprock_async.testing import FakeServer\n"
                "server = FakeServer(seed=0)\n"
                "await server.__aenter__()  # served by the kernel's own loop\n"
                "[job] = server.add_jobs(1)"
            ),
            cell(
                "from uprock_async.sync import UprockClient\n"
                "client = UprockClient(server.api_key, base_url=server.uprock_url,\n"
                "                      timeout=1.0, retry=0, circuit_breaker=None)\n"
                "client.job_detail(job)"
            ),
            cell("client.close()\nawait server.__aexit__(None, None, None)\nprint('done')"),
        ]
    )
    nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=60, allow_errors=True
    ).execute()

    call = notebook.cells[1].outputs
    [error] = [o for o in call if o.output_type == "error"]
    assert error.ename == "APITimeoutError"
    assert "whose own event loop is running" in error.evalue
    assert "FakeServer.in_thread()" in error.evalue
    stderr = "".join(o.text for o in call if o.output_type == "stream" and o.name == "stderr")
    assert "has had no answer for 1 s" in stderr  # the warning came before the error
    assert "test-key-0-0123456789abcdef" not in str(call)  # FakeServer(seed=0)'s key
    assert "done" in "".join(o.get("text", "") for o in notebook.cells[2].outputs)
