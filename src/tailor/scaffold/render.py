"""The files of a new BFF, rendered from the templates beside this module."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from tailor.errors import ConfigError

_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")
_PACKAGE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class NewBff:
    """What to make: the BFF's name, the package it goes in, its ports, and where sources
    and tests live.

    >>> NewBff("tv", package="waveform.bffs").module
    'waveform.bffs.tv'
    """

    name: str
    package: str = ""
    port: int = 8090
    admin_port: int = 8190
    src: Path = Path("src")
    tests: Path = Path("tests")

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ConfigError("name", "lower-case letters, digits and '_', starting with a letter")
        if self.package and not _PACKAGE.fullmatch(self.package):
            raise ConfigError("package", f"{self.package!r} is not a dotted module name")
        for key, port in (("port", self.port), ("admin_port", self.admin_port)):
            if not 1 <= port <= 65535:
                raise ConfigError(key, f"{port} is not a TCP port")
        if self.port == self.admin_port:
            raise ConfigError("admin_port", "the admin port must differ from the port")

    @property
    def module(self) -> str:
        return f"{self.package}.{self.name}" if self.package else self.name

    @property
    def directory(self) -> Path:
        return self.src.joinpath(*self.module.split("."))

    def values(self) -> dict[str, str]:
        return {
            "name": self.name,
            "module": self.module,
            "port": str(self.port),
            "admin_port": str(self.admin_port),
            "audience": f"{self.name}-bff",
        }


def template(name: str) -> Template:
    return Template(resources.files("tailor.scaffold").joinpath("templates", name).read_text())


def render(name: str, new: NewBff) -> str:
    """A template filled in (``$$`` for a literal ``$``; a missing value is a KeyError)."""
    return template(name).substitute(new.values())


def module_files(new: NewBff) -> dict[Path, str]:
    """The BFF's package and its test, by path."""
    return {
        new.directory / "__init__.py": render("package_init.py.tmpl", new),
        new.directory / "__main__.py": render("main.py.tmpl", new),
        new.directory / "app.py": render("app.py.tmpl", new),
        new.tests / f"test_{new.name}.py": render("test_bff.py.tmpl", new),
    }
