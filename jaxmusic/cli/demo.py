"""``jaxmusic demo``: MFCC and scattering of one built-in note, with a figure."""

from __future__ import annotations

__all__ = ["add_demo_subcommand"]


def _run(args) -> int:
    from ..experiments.demo import run_demo

    from ..report import write_report

    run_demo(args.out, instrument=args.instrument, pitch=args.pitch, force=args.force)
    print(f"listening page: {write_report(args.out)}")
    return 0


def add_demo_subcommand(sub) -> None:
    """Add ``demo`` to an argparse sub-parser set."""
    d = sub.add_parser("demo", help="MFCC and scattering of a built-in note, with a figure")
    d.add_argument("--out", default="runs/note", help="output folder (default runs/note; make demo's table "
                                                                 "goes to runs/demo)")
    d.add_argument("--force", action="store_true",
                   help="write into an existing --out that jaxmusic did not write (only its own names are replaced)")
    d.add_argument("--instrument", default="violin")
    d.add_argument("--pitch", type=int, default=64, help="MIDI pitch (default 64)")
    d.set_defaults(func=_run)
