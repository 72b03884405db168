"""``python -m waveform demo [--scale N] [--data-dir DIR]``: run the whole platform."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help"}:
        print("usage: python -m waveform demo [--scale N] [--data-dir DIR] [--base-port P]")
        return 0 if args else 2
    if args[0] != "demo":
        print(f"unknown command {args[0]!r}; try: python -m waveform demo", file=sys.stderr)
        return 2
    from waveform.supervisor import demo

    return demo(args[1:])


if __name__ == "__main__":
    sys.exit(main())
