"""The ``jaxmusic report`` sub-command: the listening page of a run folder.

Writes ``RUN_DIR/index.html`` (`jaxmusic.report.write_report`): the run's own tables,
every figure (click for full resolution) and every sound with a player, its length
and its sample rate. A static page with relative links: it opens from disk, from a
zipped copy of the folder or from a static web host. Given a single output sound
instead (``OUT.wav`` of ``jaxmusic hybridize`` or ``translate``), it writes
``OUT.html`` beside it, with ``OUT.png`` when that exists.

Examples
--------
    jaxmusic report runs/demo                  # runs/demo/index.html
    jaxmusic report runs/timbre runs/style     # one page per folder
    jaxmusic report out.wav                    # out.html (player and out.png)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._outputs import add_force

__all__ = ["add_report_subcommand", "run_report"]


def add_report_subcommand(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="write a run folder's listening page (RUN_DIR/index.html)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="a folder jaxmusic wrote (or an output sound OUT.wav: writes OUT.html)")
    add_force(p, "the page (a folder without jaxmusic's marker, an index.html or OUT.html it did not write)")
    p.set_defaults(func=run_report)
    return p


def run_report(args) -> int:
    from ..report import _AUDIO, write_output_report, write_report

    for run in args.runs:
        path = Path(run).expanduser()
        if path.is_file() and path.suffix.lower() in _AUDIO:
            figure = path.with_suffix(".png")
            page = write_output_report(path, figure if figure.is_file() else None, title=f"jaxmusic: {path.name}",
                                       overwrite=args.force)
        else:
            page = write_report(path, force=args.force)
        print(f"wrote {page} (open it in a browser: {page.resolve().as_uri()})")
    return 0
