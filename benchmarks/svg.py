"""The at-a-glance plot for docs/benchmarks.md: plain SVG text, no plotting library.

One panel per scenario, one row per contender: requests per second (longer is better) and
p99 latency in ms (shorter is better), each bar scaled to the largest in its panel (p99 at
most 4x the panel median, longer bars cut and marked ">"). The
latency panel shows p50 and p99 overhead above the critical path instead. tailor's rows are
blue, the peers grey.
"""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH = 920
LABEL_X = 10
BAR1_X = 330
BAR2_X = 650
BAR1_W = 230
BAR2_W = 180
ROW = 22
LABEL_CHARS = 48  # about 300 px at 12 px: longer labels would run into the bars
TAILOR = "#1f6fb4"
PEER = "#9a9a9a"
FAMILY = 'font-family="Helvetica, Arial, sans-serif"'
FONT = f'{FAMILY} font-size="12"'


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"


def _bar(x: int, y: int, width: float, full: int, value: float, color: str, unit: str) -> str:
    w = max(1.0, full * width)
    return (
        f'<rect x="{x}" y="{y + 4}" width="{w:.1f}" height="{ROW - 8}" fill="{color}"/>'
        f'<text x="{x + w + 4:.1f}" y="{y + ROW - 7}" {FONT}>{_num(value)}{unit}</text>'
    )


def _panel(s: dict[str, Any], y: int) -> tuple[list[str], int]:
    openloop = s.get("kind") == "openloop"
    if openloop:
        col1, col2 = ("p50 ms above the critical path", "p99 ms above the critical path")
        f1, f2, u1, u2 = "p50_over_ms", "p99_over_ms", " ms", " ms"
    else:
        col1, col2 = "requests per second (longer is better)", "p99 ms (shorter is better)"
        f1, f2, u1, u2 = "rps", "p99_ms", "", " ms"
    rows = s["contenders"]
    m1 = max((max(0.0, r[f1]) for r in rows), default=1.0) or 1.0
    # One outlier (FastAPI + httpx at seconds) would flatten every other latency bar: the
    # scale stops at 4x the panel's median and longer bars are cut, marked with ">".
    values = sorted(max(0.0, r[f2]) for r in rows)
    m2 = min(values[-1], 4 * values[len(values) // 2]) if values else 1.0
    m2 = m2 or 1.0
    out = [
        f'<text x="{LABEL_X}" y="{y + 16}" {FAMILY} font-weight="bold" font-size="14">'
        f"{escape(s['title'])}</text>",
        f'<text x="{BAR1_X}" y="{y + 34}" {FONT} fill="#555">{col1}</text>',
        f'<text x="{BAR2_X}" y="{y + 34}" {FONT} fill="#555">{col2}</text>',
    ]
    y += 40
    for r in rows:
        color = TAILOR if r["key"].startswith("tailor") else PEER
        label = (
            r["label"] if len(r["label"]) <= LABEL_CHARS else r["label"][: LABEL_CHARS - 1] + "…"
        )
        out.append(f'<text x="{LABEL_X}" y="{y + ROW - 7}" {FONT}>{escape(label)}</text>')
        out.append(_bar(BAR1_X, y, max(0.0, r[f1]) / m1, BAR1_W, r[f1], color, u1))
        cut = r[f2] > m2
        out.append(
            _bar(
                BAR2_X,
                y,
                min(1.0, max(0.0, r[f2]) / m2),
                BAR2_W,
                r[f2],
                color,
                u2 + (" >" if cut else ""),
            )
        )
        y += ROW
    return out, y + 14


def render(result: dict[str, Any]) -> str:
    parts: list[str] = []
    y = 10
    for s in result.get("scenarios", []):
        if s.get("kind") in ("overload", "soak", "grpc", "h2load"):  # no p99 to draw: tables only
            continue
        panel, y = _panel(s, y)
        parts.extend(panel)
    date = result["started"].replace("T", " ").replace("+00:00", " UTC")
    parts.append(
        f'<text x="{LABEL_X}" y="{y + 4}" {FONT} fill="#555">{escape(result["command"])}, '
        f"{date}; medians of {result['settings']['rounds']} interleaved rounds</text>"
    )
    height = y + 16
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}">\n'
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>\n'
        + "\n".join(parts)
        + "\n</svg>\n"
    )
