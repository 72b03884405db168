"""The docs run: every name they import from tailor exists, and every Python snippet the
guide and the README quote from a file (marked ``<!-- from FILE -->``) is what that file says.

A quoted snippet is parsed: each of its import statements must resolve, and each of its other
statements must be, as code (comments aside), a statement of the file it names.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import tailor

ROOT = Path(__file__).parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
GUIDE = ROOT / "docs" / "writing-a-bff.md"

FROM_IMPORT = re.compile(r"^\s*from (tailor[\w.]*) import (\([^)]*\)|[^\n]+)", re.MULTILINE)
DOTTED = re.compile(r"(?<![\w./-])tailor(?:\.[A-Za-z_]\w*)+")
QUOTED = re.compile(r"<!-- from (\S+) -->\n```python\n(.*?)```", re.DOTALL)
PYTHON_BLOCK = re.compile(r"^```python\n", re.MULTILINE)


def _resolve(dotted: str) -> object:
    """A module, or an attribute reached from the longest importable module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            target = getattr(target, attr)
        return target
    raise ModuleNotFoundError(dotted)


def _imported(text: str) -> list[str]:
    names = []
    for module, listed in FROM_IMPORT.findall(text):
        for name in listed.strip("()").split(","):
            name = name.split("#")[0].split(" as ")[0].strip()
            if name:
                names.append(f"{module}.{name}")
    return names


def _named(path: Path) -> list[str]:
    text = path.read_text()
    return sorted(set(_imported(text)) | set(DOTTED.findall(text)))


def test_every_public_name_of_tailor_imports() -> None:
    assert len(set(tailor.__all__)) == len(tailor.__all__)
    for name in tailor.__all__:
        assert getattr(tailor, name) is not None, name


@pytest.mark.parametrize("path", DOCS + EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_tailor_name_a_doc_or_example_uses_resolves(path: Path) -> None:
    missing = []
    for dotted in _named(path):
        try:
            _resolve(dotted)
        except (ImportError, AttributeError):
            missing.append(dotted)
    assert missing == []


def _quoted(path: Path) -> list[tuple[str, str]]:
    return QUOTED.findall(path.read_text())


def _statements(source: str) -> set[str]:
    return {ast.dump(node) for node in ast.walk(ast.parse(source)) if isinstance(node, ast.stmt)}


@pytest.mark.parametrize(
    ("doc", "origin", "snippet"),
    [(doc, origin, snippet) for doc in DOCS for origin, snippet in _quoted(doc)],
    ids=lambda v: v.name if isinstance(v, Path) else str(v)[:40],
)
def test_a_quoted_snippet_is_what_its_file_says(doc: Path, origin: str, snippet: str) -> None:
    in_file = _statements((ROOT / origin).read_text())
    for node in ast.parse(snippet).body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                _resolve(f"{node.module}.{alias.name}")
        elif not isinstance(node, ast.Import):
            assert ast.dump(node) in in_file, ast.unparse(node)


def test_every_python_snippet_of_the_guide_is_quoted_from_a_file() -> None:
    text = GUIDE.read_text()
    assert len(PYTHON_BLOCK.findall(text)) == len(_quoted(GUIDE)) > 0


def test_the_readme_quotes_the_hello_bff_whole() -> None:
    [snippet] = [s for origin, s in _quoted(ROOT / "README.md") if origin.endswith("hello_bff.py")]
    assert snippet == (ROOT / "examples" / "hello_bff.py").read_text()


def test_the_guide_links_the_extension_points() -> None:
    assert "(extending.md)" in GUIDE.read_text()
