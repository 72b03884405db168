"""``python -m waveform demo [--scale N] [--data-dir DIR]``: run the whole platform;
``python -m waveform rollout --version V``: roll its BFFs onto a new build (docs/rollout.md)."""

from __future__ import annotations

import sys

USAGE = """usage: python -m waveform demo [--scale N] [--data-dir DIR] [--base-port P]
       python -m waveform rollout --version V [--python P] [--data-dir DIR]"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if args else 2
    if args[0] == "demo":
        from waveform.supervisor import demo

        return demo(args[1:])
    if args[0] == "rollout":
        from waveform.rollout import main as rollout

        return rollout(args[1:])
    print(f"unknown command {args[0]!r}; try: python -m waveform demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
