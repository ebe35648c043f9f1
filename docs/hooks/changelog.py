"""MkDocs hook: the Changelog and Contributing pages show CHANGELOG.md and CONTRIBUTING.md.

One source each: the files at the top of the clone, which the pages only stand in for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGES = {"changelog.md": ROOT / "CHANGELOG.md", "contributing.md": ROOT / "CONTRIBUTING.md"}


def on_page_read_source(page: Any, config: Any) -> str | None:
    """Return the repository file a page stands in for; None lets MkDocs read the others."""
    source = PAGES.get(page.file.src_uri)
    return None if source is None else source.read_text(encoding="utf-8")
