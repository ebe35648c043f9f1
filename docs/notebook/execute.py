"""Execute examples/notebook.ipynb and write the copy the documentation site shows.

Run from the clone's root after editing the notebook::

    pip install '.[simulator,notebook]'
    python docs/notebook/execute.py

The notebook in examples/ stays output-free (a test checks it); this writes
docs/notebook/notebook.ipynb with every output, which the MkDocs hook
docs/hooks/notebook.py renders as the "Notebook" page without needing Jupyter at build time.
tests/test_docs.py checks that the executed copy holds the same cells as the example.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "examples" / "notebook.ipynb"
TARGET = ROOT / "docs" / "notebook" / "notebook.ipynb"


def main() -> int:
    """Execute the example in this interpreter's kernel and write the executed copy."""
    notebook = nbformat.read(SOURCE, as_version=4)
    # The kernel starts in the clone's root, so it imports this copy of the package.
    NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(ROOT)}},
    ).execute()
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, TARGET)
    print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
