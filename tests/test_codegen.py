"""codegen: the generated models are current, reproducible, and drift is detected."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not add the cwd
    sys.path.insert(0, str(ROOT))

from codegen import SCHEMA_DIR, TARGET, bundle_schemas, check, render  # noqa: E402


@pytest.fixture(scope="module")
def rendered() -> str:
    return render()


def test_generated_file_is_current(rendered: str) -> None:
    assert TARGET.read_text(encoding="utf-8") == rendered, "run make codegen"


def test_render_is_deterministic(rendered: str) -> None:
    assert render() == rendered


def test_banner_and_attrs_output(rendered: str) -> None:
    head = rendered.splitlines()[:3]
    assert "Generated from schemas/models/ by codegen/" in head[0]
    assert "DO NOT EDIT" in head[1] and "make codegen" in head[1]
    assert "@attrs.frozen(kw_only=True)" in rendered
    assert "dataclass" not in rendered
    assert "token: str | None = attrs.field(repr=False, default=None)" in rendered
    assert "20" + "26" not in rendered  # no timestamp


def test_check_cli_passes_on_the_real_file() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "codegen", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_cli_detects_a_modified_copy(tmp_path: Path) -> None:
    copy = tmp_path / "_generated.py"
    shutil.copy(TARGET, copy)
    copy.write_text(
        copy.read_text(encoding="utf-8").replace(
            "class Setting(ModelBase):", "class Settin(ModelBase):"
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "codegen", "--check", "--target", str(copy)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "run make codegen" in proc.stdout
    assert (
        "-class Settin(ModelBase):" in proc.stdout and "+class Setting(ModelBase):" in proc.stdout
    )
    assert check(copy)  # the library function agrees


def test_a_new_schema_field_appears_after_generate(tmp_path: Path) -> None:
    schemas = tmp_path / "models"
    shutil.copytree(SCHEMA_DIR, schemas)
    path = schemas / "tariff.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["properties"]["valid_until"] = {
        "type": ["string", "null"],
        "format": "date",
        "description": "Last day the tariff applies.",
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    text = render(schemas)
    assert "valid_until: date | None = None" in text
    assert '"""Last day the tariff applies."""' in text
    assert check(TARGET, schemas)  # the real file is now stale against these schemas


def test_bundle_rewrites_file_refs_to_defs() -> None:
    bundle = bundle_schemas()
    assert set(bundle["$defs"]) >= {"ChargePoint", "Setting", "Activity", "TokenStatus"}
    text = json.dumps(bundle)
    assert ".json" not in text.replace("json-schema.org", "")


def test_generated_file_reads_well(rendered: str) -> None:
    """Every line within the limit, docstrings never run into their own quotes, an __all__."""
    import ast
    import re

    lines = rendered.splitlines()
    assert lines, "nothing rendered"
    long = [line for line in lines if len(line) > 100]
    assert not long, f"lines past 100 characters: {long[:3]}"
    assert not [line for line in lines if '""""' in line]
    tree = ast.parse(rendered)
    classes = sorted(node.name for node in tree.body if isinstance(node, ast.ClassDef))
    exported = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__"
    )
    assert classes and exported == classes
    assert re.search(r'""" "plug_and_charge" or', rendered), "the quote-first description"


def test_docstring_post_processing() -> None:
    from codegen._generate import _docstring

    assert _docstring('    """"a" b"""') == ['    """ "a" b"""']
    assert _docstring('    """a "b""""') == ['    """a "b" """']
    wrapped = _docstring('    """' + "word " * 40 + '"""')
    assert len(wrapped) > 2
    assert all(len(line) <= 100 for line in wrapped)
    assert wrapped[0].startswith('    """word') and wrapped[-1] == '    """'
    assert _docstring("    x: int = 1") == ["    x: int = 1"]
