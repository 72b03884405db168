"""The exception tree drawn in tailor.errors' docstring is complete and drawn as the classes
really derive."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import tailor
import tailor.errors
from tailor.errors import TailorError

_BRANCH = re.compile(r"^    (?P<indent>[│ ]*)(?:[├└]── )?(?P<name>[A-Z]\w+)\b")


def _public_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module in pkgutil.walk_packages(tailor.__path__, "tailor."):
        if module.name.endswith("__main__"):
            continue
        for _, value in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if (
                issubclass(value, BaseException)
                and value.__module__.startswith("tailor.")
                and not value.__name__.startswith("_")
            ):
                found.add(value)
    return found


def _drawn_parents() -> dict[str, str | None]:
    """Each class named in the docstring's tree, with the class it hangs from."""
    doc = tailor.errors.__doc__ or ""
    tree = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in tree.splitlines():
        match = _BRANCH.match(line)
        assert match, line
        depth = len(match["indent"]) // 4 + (1 if "──" in line else 0)
        path[depth:] = [match["name"]]
        parents[match["name"]] = path[depth - 1] if depth else None
    return parents


def test_every_exception_class_of_the_library_is_in_the_docstring_tree() -> None:
    drawn = _drawn_parents()
    missing = sorted(cls.__name__ for cls in _public_exceptions() if cls.__name__ not in drawn)
    assert missing == []


def test_every_exception_class_derives_from_tailor_error() -> None:
    strays = sorted(c.__name__ for c in _public_exceptions() if not issubclass(c, TailorError))
    assert strays == []


def test_each_class_hangs_in_the_tree_from_the_class_it_derives_from() -> None:
    drawn = _drawn_parents()
    for cls in _public_exceptions():
        expected = None if cls is TailorError else cls.__bases__[0].__name__
        assert drawn.get(cls.__name__) == expected, cls.__name__
