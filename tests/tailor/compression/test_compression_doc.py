"""docs/compression.md runs: its config builds, and its negotiation table is what tailor does."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tailor import build_config
from tailor.compression.negotiate import choose

DOC = Path(__file__).parents[3] / "docs" / "compression.md"
TOML = re.compile(r"```toml\n(.*?)```", re.DOTALL)
ROW = re.compile(r"^\| (none, or empty|`[^`]+`) \| (identity|`\w+`|406)", re.MULTILINE)


def test_the_config_the_page_shows_builds() -> None:
    [block] = TOML.findall(DOC.read_text())
    config = build_config({"name": "doc", **tomllib.loads(block)})
    assert config.compression.enabled
    assert config.compression.levels.zstd == 3


def test_the_negotiation_table_is_what_tailor_chooses() -> None:
    rows = ROW.findall(DOC.read_text())
    assert len(rows) == 6
    for header, answer in rows:
        sent = None if header.startswith("none") else header.strip("`")
        expected = None if answer == "406" else answer.strip("`")
        assert choose(sent, ("zstd", "br", "gzip")) == expected, header
