"""The examples are files a reader copies, not a package: their tests import them from
examples/ (and start them from there, as the guide does)."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))
