"""MkDocs hook: the "Notebook" page shows examples/notebook.ipynb with its outputs.

The outputs come from the executed copy docs/notebook/notebook.ipynb (written by
docs/notebook/execute.py), so building the site needs neither Jupyter nor a kernel: this
hook turns the copy into Markdown with the standard library only. Markdown cells are kept as
they are, code cells become Python blocks, text outputs text blocks, HTML outputs (tables)
raw HTML, and PNG figures inline images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

EXECUTED = Path(__file__).resolve().parents[1] / "notebook" / "notebook.ipynb"
PAGE = "guides/notebook.md"

INTRO = """\
# The example notebook

`examples/notebook.ipynb` from the repository, as it runs against the simulator, with its
outputs. To run it yourself, from a clone: `pip install '.[simulator,notebook]'` (the
`notebook` extra brings pandas, matplotlib, ipykernel, nbclient), then open it in Jupyter.
The guide to models as tables and records: [Notebooks and data](data.md).

"""


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _fence(text: str, language: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{language}\n{text.rstrip()}\n{fence}\n"


def _output(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _fence(_text(output.get("text", "")), "text")
    if kind == "error":
        return _fence(f"{output.get('ename')}: {output.get('evalue')}", "text")
    data = output.get("data", {})
    if "image/png" in data:
        png = _text(data["image/png"]).replace("\n", "")
        return f'<img alt="figure" src="data:image/png;base64,{png}">\n'
    if "text/html" in data:
        return f'<div class="notebook-output">\n{_text(data["text/html"])}\n</div>\n'
    if "text/plain" in data:
        return _fence(_text(data["text/plain"]), "text")
    return ""


def render(notebook: dict[str, Any]) -> str:
    """The notebook as a Markdown page (its first heading replaced by the page's)."""
    parts = [INTRO]
    for cell in notebook.get("cells", []):
        source = _text(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            if source.lstrip().startswith("# "):
                source = source.split("\n", 1)[1] if "\n" in source else ""
            parts.append(source.strip() + "\n")
        elif cell.get("cell_type") == "code":
            parts.append(_fence(source, "python"))
            parts.extend(_output(output) for output in cell.get("outputs", []))
    return "\n".join(part for part in parts if part)


def on_files(files: Files, config: Any) -> Files:
    """Add the generated page to the site."""
    notebook = json.loads(EXECUTED.read_text(encoding="utf-8"))
    files.append(File.generated(config, PAGE, content=render(notebook)))
    return files
