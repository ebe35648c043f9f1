"""The examples run: the notebook in a real Jupyter kernel, the quickstart as a script.

The notebook test proves the synchronous client works inside a kernel that already runs an
asyncio event loop (ipykernel's), with no ``nest_asyncio`` or ``await``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOKEN_ENV = "BLUECURRENT_API_TOKEN"


@pytest.fixture
def venv_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec named ``python3`` that runs this very interpreter (the venv's).

    JUPYTER_PATH comes first in the kernelspec search, so a user-wide or system-wide
    ``python3`` kernel pointing at another Python cannot shadow it.
    """
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (bluecurrent_sync tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    return "python3"


def cell_text(cell: nbformat.NotebookNode) -> str:
    """All text a code cell printed or displayed."""
    parts: list[str] = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] in ("execute_result", "display_data"):
            data = output["data"]
            parts.append(data.get("text/html", data.get("text/plain", "")))
    return "".join(parts)


def test_committed_notebook_has_no_outputs() -> None:
    nb = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None


#: The example watches pushes every 0.5 s for 10 s; the test's copy, every 0.05 s for 3 s.
FASTER = [("push_interval=0.5", "push_interval=0.05"), ("SECONDS = 10", "SECONDS = 3")]


def test_notebook_runs_in_a_real_kernel(venv_kernel: str, tmp_path: Path) -> None:
    nb = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    for cell in nb.cells:
        for before, after in FASTER:
            cell.source = cell.source.replace(before, after)
    assert all(any(after in cell.source for cell in nb.cells) for _, after in FASTER)
    # Appended checks (not part of the example): the kernel is this venv's interpreter,
    # it runs an event loop, and the notebook left no thread of ours behind.
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import asyncio, sys, threading\n"
            "print('EXECUTABLE', sys.executable)\n"
            "try:\n"
            "    asyncio.get_running_loop()\n"
            "    print('LOOP running')\n"
            "except RuntimeError:\n"
            "    print('LOOP none')\n"
            "print('THREADS', sorted(t.name for t in threading.enumerate()"
            " if t.name.startswith('bluecurrent-sync')))"
        )
    )
    client = NotebookClient(
        nb,
        kernel_name=venv_kernel,
        timeout=60,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    everything = "\n".join(cell_text(cell) for cell in code)
    assert "connected to ws://127.0.0.1:" in everything
    assert "<td>BCU100001</td><td>charging</td><td>Garage</td>" in everything  # html_table
    assert "<b>ChargePoint</b>" in everything  # one model's own _repr_html_
    assert "tariff.price_in_vat" in everything  # the DataFrame built from to_records
    assert "START_SESSION" in everything
    updates = next(cell_text(c) for c in code if "updates for" in cell_text(c))
    count = int(updates.split(" updates for ")[0].split()[-1])
    assert count >= 10, updates  # ~60 pushes at 0.05 s in 3 s
    plots = [
        output
        for cell in code
        for output in cell.outputs
        if output["output_type"] == "display_data" and "image/png" in output["data"]
    ]
    assert len(plots) == 1
    assert "STOP_SESSION" in everything
    checks = cell_text(code[-1])
    assert f"EXECUTABLE {sys.executable}\n" in checks
    assert "LOOP running" in checks  # the synchronous client ran inside a live event loop
    assert "THREADS []" in checks


def _run_quickstart(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_quickstart_against_the_embedded_simulator() -> None:
    env = {key: value for key, value in os.environ.items() if key != TOKEN_ENV}
    env.pop("BLUECURRENT_URL", None)
    proc = _run_quickstart(env)
    assert proc.returncode == 0, proc.stderr
    assert "using a local simulator at ws://127.0.0.1:" in proc.stdout
    lines = proc.stdout.splitlines()
    assert any(line.startswith("BCU100001") and "charging" in line for line in lines)
    assert sum(line.startswith("BCU1000") for line in lines) == 4


def test_quickstart_with_a_token_from_the_environment() -> None:
    """The 'real account' path: token (and here the URL) from the environment."""
    with Simulator(push_interval=None) as simulator:
        env = dict(os.environ, BLUECURRENT_API_TOKEN=DEFAULT_TOKEN, BLUECURRENT_URL=simulator.url)
        proc = _run_quickstart(env)
        assert proc.returncode == 0, proc.stderr
        assert "local simulator" not in proc.stdout
        assert "Connected as sam@simulator.example" in proc.stdout
        assert simulator.count("VALIDATE_API_TOKEN") == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("bluecurrent-sync-sim")]
