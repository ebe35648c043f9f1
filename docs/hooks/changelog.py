"""MkDocs hook: the Changelog page shows the repository's CHANGELOG.md (one source)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHANGELOG = Path(__file__).resolve().parents[2] / "CHANGELOG.md"


def on_page_read_source(page: Any, config: Any) -> str | None:
    """Return CHANGELOG.md for ``changelog.md``; None lets MkDocs read other pages itself."""
    if page.file.src_uri == "changelog.md":
        return CHANGELOG.read_text(encoding="utf-8")
    return None
