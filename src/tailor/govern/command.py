"""The shape of a ``python -m tailor.govern`` subcommand, and loading a BFF by module name."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tailor.app import BFF
from tailor.config import build_config
from tailor.errors import ConfigError


@dataclass(frozen=True)
class Command:
    """One subcommand: ``configure`` adds its arguments to its parser, ``run`` does the work
    and returns the exit status (0 ok, 1 the check failed, 2 bad input).

    >>> COMMAND = Command("hello", "say hello", lambda parser: None, lambda args: 0)
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def load_bff(target: str) -> BFF:
    """The BFF of ``target``: ``package.module:factory`` calls the factory (as ``python -m
    tailor.serve`` does); a bare ``package.module`` builds ``build(config)`` from the module's
    ``PROFILE``, without ``token_exchange``, whose secret lives in the environment of a
    running BFF and changes nothing a contract shows."""
    name, _, factory = target.partition(":")
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError("module", f"cannot import {name}: {exc}") from exc
    if factory:
        made: Any = getattr(module, factory, None)
        if not callable(made):
            raise ConfigError("module", f"{name} has no factory named {factory}")
        bff = made()
    else:
        profile = getattr(module, "PROFILE", None)
        build = getattr(module, "build", None)
        if not isinstance(profile, dict) or not callable(build):
            raise ConfigError(
                "module", f"{name} has no PROFILE and build(config): give module:factory"
            )
        offline = {key: value for key, value in profile.items() if key != "token_exchange"}
        bff = build(build_config(offline))
    if not isinstance(bff, BFF):
        raise ConfigError("module", f"{target} did not make a BFF")
    return bff
