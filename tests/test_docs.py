"""The front door and the manual: README.md, the documentation site and its API reference.

- The README stays a front door: at most 10 KB, naming ``make demo`` and ``make test``.
- Every Python block in README.md and docs/ runs, page by page in one namespace, against a
  simulator on 127.0.0.1 (a client connected to it is already there as ``client``).
- The site builds (``mkdocs build --strict``) in a fresh virtualenv with the ``docs`` extra alone
  (slow), and in this one with nothing importable but the ``docs`` extra,
  the package's runtime dependencies and the standard library; the Makefile's ``docs``
  target installs that extra alone.
- The built API reference has an entry for every public name, renders no raw Sphinx role
  (``:meth:``...), no literal ``Example::``, and shows no private module or helper.
- The notebook page shows the example notebook as it is, with outputs.
"""

from __future__ import annotations

import configparser
import html
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

import bluecurrent_sync
from bluecurrent_sync import errors, models, pytest_plugin, simulator
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]

# ----------------------------------------------------------------------------- README


def test_the_readme_is_a_front_door() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(README.read_bytes()) <= 10 * 1024, "README.md is over 10 KB: move it to docs/"
    for needed in ("make demo", "make test", "## Install", "## Quickstart", "not on PyPI"):
        assert needed in text, needed
    assert "pip install '.[simulator]'" in text  # from a clone: the package is not indexed
    assert "bluecurrent-sync[simulator]" not in text
    # The quickstart runs with no token: the first Python block starts a simulator.
    first = _python_blocks(README)[0][1]
    assert "Simulator(" in first and "BLUECURRENT_API_TOKEN" not in first
    # Every link into the clone points at a file that exists (docs pages, examples).
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), f"README.md links to a missing {target}"
    # Contributors' material lives in CONTRIBUTING.md, which exists and says how.
    for moved in ("make mutation", "make bench", "Layers"):
        assert moved not in text.replace("CONTRIBUTING.md", "")
        assert moved in (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- code blocks


def _python_blocks(page: Path) -> list[tuple[int, str]]:
    """The ``python`` fenced blocks of a page, with the line each starts on."""
    blocks: list[tuple[int, str]] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = re.match(r"^(\s*)(`{3,})(\w*)\s*$", lines[index])
        if not match:
            index += 1
            continue
        indent, fence, language = match.groups()
        start = index + 1
        index = start
        while index < len(lines) and lines[index].strip() != fence:
            index += 1
        if language in ("python", "py", "pycon"):
            body = "\n".join(line[len(indent) :] for line in lines[start:index])
            blocks.append((start + 1, textwrap.dedent(body)))
        index += 1
    return blocks


def test_the_block_finder_finds_blocks() -> None:
    # A page without any Python block would make the test below pass vacuously.
    assert len(_python_blocks(README)) == 2
    total = sum(len(_python_blocks(page)) for page in PAGES)
    assert total >= 25, total


@pytest.fixture
def docs_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """What the pages' blocks may use without defining it, all on a local simulator.

    ``Client(...)`` without ``url=`` (as written for the real server) goes to the
    simulator: the pages show real usage, the test never reaches the live server. Every
    block starts with ``client`` connected (a block that showed ``close()`` does not
    leave the next one a closed client); ``~`` is a fresh home directory.
    """
    sim = Simulator(push_interval=0.1, action_delay=0.02)
    sim.start()
    real_client = bluecurrent_sync.Client

    class SimulatorClient(real_client):  # type: ignore[misc, valid-type]
        def __init__(self, api_token: str, **options: Any) -> None:
            options.setdefault("url", sim.url)
            super().__init__(api_token, **options)

    monkeypatch.setattr(bluecurrent_sync, "Client", SimulatorClient)
    monkeypatch.setenv("BLUECURRENT_API_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("BLUECURRENT_URL", sim.url)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".cache").mkdir()
    monkeypatch.chdir(tmp_path)
    client = SimulatorClient(DEFAULT_TOKEN).connect()
    namespace: dict[str, Any] = {
        "__name__": "docs_block",
        "client": client,
        "sim": sim,
        "api_token": DEFAULT_TOKEN,
        "token": DEFAULT_TOKEN,
        "evse": "BCU100004",  # available, a vehicle plugged in
        "evse_id": "BCU100001",
        "evse_ids": ["BCU100001", "BCU100002"],
        "card_uid": "04A1B2C3D4E5F6",
    }
    try:
        yield namespace
    finally:
        for value in list(namespace.values()):
            if isinstance(value, real_client):
                value.close()
        client.close()
        sim.stop()


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_python_block_runs(page: Path, docs_namespace: dict[str, Any]) -> None:
    connected = docs_namespace["client"]
    for line, source in _python_blocks(page):
        if not getattr(docs_namespace.get("client"), "connected", False):
            docs_namespace["client"] = connected
        code = compile(source, f"{page.relative_to(ROOT)}:{line}", "exec")
        try:
            exec(code, docs_namespace)  # the page's own example code
        except Exception as exc:
            raise AssertionError(
                f"the block at {page.relative_to(ROOT)}:{line} failed: {exc!r}"
            ) from exc


# ----------------------------------------------------------------------------- the docs extra

#: What mkdocs.yml names, and the distribution that provides it.
PROVIDERS = {
    "mkdocstrings": "mkdocstrings",
    "python": "mkdocstrings-python",  # the mkdocstrings handler
    "pymdownx": "pymdown-extensions",
}
#: Parts of MkDocs and Python-Markdown themselves.
BUILT_IN = {"readthedocs", "mkdocs", "search", "admonition", "toc", "tables", "fenced_code"}


def _extra(name: str) -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = config["options.extras_require"][name].strip().splitlines()
    return [Requirement(line) for line in lines if line.strip()]


def _mkdocs_needs() -> set[str]:
    """Top-level names of the theme, plugins, mkdocstrings handlers and Markdown extensions."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def names(entries: list[Any]) -> list[str]:
        return [e if isinstance(e, str) else next(iter(e)) for e in entries]

    needs = {config["theme"]["name"]}
    needs |= set(names(config.get("plugins", [])))
    needs |= set(names(config.get("markdown_extensions", [])))
    for plugin in config.get("plugins", []):
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            needs |= set(plugin["mkdocstrings"].get("handlers", {}))
    return {name.split(".")[0] for name in needs}


def test_the_docs_extra_lists_every_package_mkdocs_yml_needs() -> None:
    needs = _mkdocs_needs()
    assert {"mkdocstrings", "python", "readthedocs"} <= needs, needs
    listed = {req.name.lower() for req in _extra("docs")}
    for need in needs - BUILT_IN:
        assert need in PROVIDERS, f"mkdocs.yml needs {need!r}: say which package provides it"
        assert PROVIDERS[need] in listed, f"{PROVIDERS[need]} is not in the docs extra"
    assert "mkdocs" in listed


def test_make_docs_installs_the_docs_extra_only() -> None:
    if not (ROOT / "Makefile").exists():
        pytest.skip("an unpacked sdist has no Makefile (MANIFEST.in)")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^docs: *(\S+)\s*$", makefile, flags=re.M)
    assert target, "no docs target"
    stamp = re.fullmatch(r"\$\((\w+)\)", target.group(1))
    assert stamp, target.group(1)
    variable = stamp.group(1)
    assert re.search(rf"^{variable}\s*:?=\s*\$\(VENV\)/\S+$", makefile, flags=re.M), variable
    recipe = re.search(rf"^\$\({variable}\):.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert recipe, f"no recipe for {variable}"
    installs = re.findall(r"pip install .*", recipe.group(1))
    assert installs and all("'.[docs]'" in line for line in installs), installs


def _closure(requirements: list[Requirement], extras: set[str]) -> set[str]:
    """Every distribution these requirements pull in, transitively (installed ones)."""
    seen: set[str] = set()
    todo = [(req, extras) for req in requirements]
    while todo:
        req, active = todo.pop()
        environment = {"extra": next(iter(active), "")}
        if req.marker and not req.marker.evaluate(environment):
            continue
        name = req.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        for line in dist.requires or []:
            sub = Requirement(line)
            if sub.marker is None or any(
                sub.marker.evaluate({"extra": extra}) for extra in (req.extras or {""})
            ):
                todo.append((sub, set(req.extras)))
    return seen


def _allowed_modules() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    runtime = [
        Requirement(line)
        for line in config["options"]["install_requires"].strip().splitlines()
        if line.strip()
    ]
    dists = _closure(_extra("docs") + runtime, set())
    allowed = {"bluecurrent_sync", "docs", "_virtualenv"}
    for dist in metadata.distributions():
        if dist.metadata["Name"].lower().replace("_", "-") in dists:
            allowed |= _top_level_modules(dist)
    return allowed


def _top_level_modules(dist: metadata.Distribution) -> set[str]:
    """The importable names a distribution installs, read from its file list.

    (``metadata.packages_distributions()`` reads only ``top_level.txt`` before Python 3.11,
    which wheels built by hatchling, mkdocs' among them, do not carry.)
    """
    names = set()
    for file in dist.files or ():
        top = file.parts[0]
        if top.endswith((".dist-info", ".data")) or top == "..":
            continue
        names.add(top.removesuffix(".py") if len(file.parts) == 1 else top)
    return {name for name in names if name.isidentifier()}


#: Run in a child: MkDocs with every import outside ``allowed`` refused.
BUILD = """
import sys
allowed = set(sys.argv[1].split(","))
stdlib = set(sys.stdlib_module_names)

class Refuse:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in allowed or top in stdlib or top.startswith("_"):
            return None
        raise ModuleNotFoundError(f"not in the docs extra: {name}", name=name)

sys.meta_path.insert(0, Refuse())
from mkdocs.__main__ import cli
sys.argv = ["mkdocs", "build", "--strict", "--quiet", "--site-dir", sys.argv[2]]
cli()
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built with nothing but the docs extra and the runtime dependencies."""
    out = tmp_path_factory.mktemp("site")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    proc = subprocess.run(
        [sys.executable, "-c", BUILD, ",".join(sorted(_allowed_modules())), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


def test_the_build_refuses_what_the_docs_extra_does_not_bring() -> None:
    # The guard is real: a module the docs extra does not bring (pandas comes with the
    # notebook extra) cannot be imported in the child.
    allowed = _allowed_modules()
    assert "mkdocs" in allowed and "mkdocstrings" in allowed and "attrs" in allowed
    assert "pandas" not in allowed and "pytest" not in allowed and "nbformat" not in allowed
    probe = BUILD.split("from mkdocs", maxsplit=1)[0] + "import pandas\n"
    proc = subprocess.run(
        [sys.executable, "-c", probe, ",".join(sorted(allowed)), "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0 and "not in the docs extra: pandas" in proc.stderr


def _page_text(page: Path) -> str:
    body = page.read_text(encoding="utf-8")
    body = re.sub(r"<script.*?</script>", "", body, flags=re.S)
    body = re.sub(r"<code>.*?</code>", "<code></code>", body, flags=re.S)  # examples of syntax
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def _reference(site: Path) -> dict[str, str]:
    return {
        str(page.relative_to(site)): page.read_text(encoding="utf-8")
        for page in sorted((site / "reference").rglob("*.html"))
    }


SPHINX_ROLE = re.compile(r":(?:py:)?(?:meth|class|attr|func|data|exc|mod|obj|const|ref):")


def test_no_raw_sphinx_role_or_literal_example_anywhere(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        if page.name == "404.html":
            continue
        text = _page_text(page)
        role = SPHINX_ROLE.search(text)
        assert not role, (page, text[max(0, role.start() - 80) : role.end() + 40])
        assert "Example::" not in text, page
        # An unresolved cross-reference would be left as its source text.
        assert "][bluecurrent_sync." not in text, page


#: Names that belong to the package's insides, never to its reference.
PRIVATE = re.compile(
    r"bluecurrent_sync(?:\.\w+)*\._[a-z]\w*"
    r"|\bModelBase\b|\bpytest_configure\b|\bpytest_addoption\b|\bpytest_report_header\b"
    r"|(?<![\w.])_[A-Za-z]\w*\.py\b"
)


def test_the_reference_shows_no_private_module(site: Path) -> None:
    reference = _reference(site)
    assert len(reference) >= 6
    for name, body in reference.items():
        text = _page_text(site / name)
        found = PRIVATE.findall(text)
        assert not found, (name, found[:5])
        ids = re.findall(r'id="(bluecurrent_sync[^"]*)"', body)
        assert not [i for i in ids if re.search(r"\._[a-z]", i)], name


def _resolve(path: str) -> object:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise LookupError(path)


def test_the_reference_covers_every_public_name(site: Path) -> None:
    ids: set[str] = set()
    for body in _reference(site).values():
        ids |= set(re.findall(r'id="(bluecurrent_sync[\w.]*)"', body))
    documented = {id(_resolve(anchor)) for anchor in ids}
    public = [
        (module, name)
        for module in (bluecurrent_sync, models, errors, simulator, pytest_plugin)
        for name in module.__all__
    ]
    assert len(public) > 90
    missing = []
    for module, name in public:
        if name == "__version__":
            continue
        obj = getattr(module, name)
        own = f"{module.__name__}.{name}"
        if own in ids:
            continue
        if isinstance(obj, (str, int, float, tuple, dict, frozenset)):
            missing.append(own)  # a constant is documented under its own name
        elif id(obj) not in documented:
            missing.append(own)
    assert not missing, f"public names without a reference entry: {missing}"
    client_page = (site / "reference" / "client" / "index.html").read_text(encoding="utf-8")
    assert "__version__" in client_page


def test_cross_references_render_as_links(site: Path) -> None:
    client_page = (site / "reference" / "client" / "index.html").read_text(encoding="utf-8")
    # Client.connect's docstring names errors; the Client docstring links to its methods.
    assert re.search(r'<a [^>]*href="[^"]*#bluecurrent_sync\.Client\.connect"', client_page)
    assert re.search(r'<a [^>]*href="[^"]*#bluecurrent_sync\.errors\.\w+"', client_page)


# ----------------------------------------------------------------------------- the notebook

EXECUTED = ROOT / "docs" / "notebook" / "notebook.ipynb"


def test_the_executed_notebook_is_the_example_with_outputs() -> None:
    example = json.loads((ROOT / "examples" / "notebook.ipynb").read_text(encoding="utf-8"))
    executed = json.loads(EXECUTED.read_text(encoding="utf-8"))

    def sources(notebook: dict[str, Any]) -> list[tuple[str, str]]:
        return [(c["cell_type"], "".join(c["source"])) for c in notebook["cells"]]

    assert sources(executed) == sources(example), (
        "docs/notebook/notebook.ipynb is stale: run python docs/notebook/execute.py"
    )
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code)
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    kinds = {key for c in code for o in c["outputs"] for key in o.get("data", {})}
    assert {"text/html", "image/png"} <= kinds


def test_the_notebook_page_shows_the_outputs(site: Path) -> None:
    page = (site / "guides" / "notebook" / "index.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page  # the plot
    assert "<td>BCU100001</td>" in page  # html_table's output
    assert "pip install &#39;.[simulator,notebook]&#39;" in page or (
        "pip install '.[simulator,notebook]'" in page
    )


# ----------------------------------------------------------------------------- a fresh venv

#: What `pip install '.[docs]'` and `mkdocs build` read from the clone.
SOURCES = [
    "setup.cfg",
    "pyproject.toml",
    "MANIFEST.in",
    "LICENSE",
    "README.md",
    "CHANGELOG.md",
    "CONTRIBUTING.md",
    "mkdocs.yml",
    "bluecurrent_sync",
    "docs",
]


@pytest.mark.slow
def test_the_site_builds_in_a_fresh_venv_with_the_docs_extra_alone(tmp_path: Path) -> None:
    # A copy of the clone (pip builds in the source tree), a new virtualenv, `.[docs]` and
    # nothing else, then the strict build `make docs` runs.
    clone = tmp_path / "clone"
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            clone.mkdir(exist_ok=True)
            shutil.copy2(source, clone / name)
    venv = tmp_path / "venv"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", ".[docs]"],
        [str(python), "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", "site"],
    ]
    for step in steps:
        proc = subprocess.run(
            step, cwd=clone, capture_output=True, text=True, timeout=170, env=env, check=False
        )
        assert proc.returncode == 0, (step, proc.stdout[-2000:], proc.stderr[-4000:])
    freeze = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    ).stdout.lower()
    for absent in ("pytest", "pandas", "nbformat", "websockets", "mypy"):
        assert f"\n{absent}==" not in f"\n{freeze}", absent  # the docs extra alone
    assert (clone / "site" / "reference" / "client" / "index.html").exists()
