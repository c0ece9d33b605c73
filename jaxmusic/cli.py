"""The ``jaxmusic`` command: parses arguments and calls library functions."""

from __future__ import annotations

import argparse
import sys

from ._checks import JaxMusicError

__all__ = ["main"]


def _demo(args) -> int:
    from .experiments.demo import run_demo

    run_demo(args.out, instrument=args.instrument, pitch=args.pitch)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .data.cli import add_features_subcommand

    p = argparse.ArgumentParser(prog="jaxmusic", description="Music representations and models in JAX.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="MFCC and scattering of a built-in note, with a figure")
    d.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    d.add_argument("--instrument", default="violin")
    d.add_argument("--pitch", type=int, default=64, help="MIDI pitch (default 64)")
    d.set_defaults(func=_demo)
    add_features_subcommand(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except JaxMusicError as err:
        print(f"jaxmusic: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
