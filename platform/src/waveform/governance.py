"""The reference platform's BFFs as governance sees them: each built from its profile, without
starting anything, for the data-class page and the contracts (``python -m tailor.govern``).

    python -m tailor.govern classes waveform.governance:bffs
"""

from __future__ import annotations

from types import ModuleType

from tailor import BFF, build_config
from waveform.bffs.mobile import app as mobile
from waveform.bffs.partner import app as partner
from waveform.bffs.public import app as public
from waveform.bffs.web import app as web

MODULES: tuple[ModuleType, ...] = (mobile, web, public, partner)


def bffs() -> list[BFF]:
    """Every BFF of the platform, built from its own profile. The token exchange is left out:
    its secret comes from the environment of a running BFF, and nothing here calls inward."""
    built = []
    for module in MODULES:
        profile = {k: v for k, v in module.PROFILE.items() if k != "token_exchange"}
        built.append(module.build(build_config(profile)))
    return built
