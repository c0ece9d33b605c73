"""``jaxmusic recognition``: the instrument-recognition table (the main job).

Examples
--------
    jaxmusic recognition --data gm8 --quick
    jaxmusic recognition --data ~/medley ~/solos ~/rwc --split source --out runs/rec
    jaxmusic recognition --train ~/medley --test ~/solos --models none
    jaxmusic recognition --nsynth ~/nsynth-test --families guitar keyboard mallet --split source
"""

from __future__ import annotations

__all__ = ["add_recognition_subcommand"]


def _names(values):
    """``none`` selects nothing; otherwise the names as given (None: the default set)."""
    if values is None:
        return None
    return [] if [v.lower() for v in values] == ["none"] else list(values)


def _run(args) -> int:
    from ..experiments.recognition import run_recognition

    data = args.data
    if data is not None and len(data) == 1 and data[0] == "gm8":
        data = "gm8"
    run_recognition(
        args.out, data="gm8" if data is None else data, train=args.train, test=args.test, nsynth=args.nsynth,
        families=args.families, steps=args.steps,
        split=args.split, features=_names(args.features), classifiers=_names(args.classifiers),
        models=_names(args.models), seeds=args.seeds, quick=args.quick, skip_bad_files=args.skip_bad_files,
        sr=args.sr, duration=args.duration, progress=not args.no_progress, force=args.force, logdir=args.logdir,
    )
    from ..report import write_report

    print(f"listening page: {write_report(args.out)}")
    return 0


def add_recognition_subcommand(sub) -> None:
    """Add ``recognition`` to an argparse sub-parser set."""
    from ..experiments.recognition import NETWORKS
    from ..experiments.representations import REPRESENTATIONS

    r = sub.add_parser("recognition", help="instrument recognition: MFCC vs scattering vs ConvNets, one table",
                       description="Every representation x classifier and every ConvNet, scored by "
                                   "1 - mean per-class recall; rerun with the same --out to resume.")
    src = r.add_mutually_exclusive_group()
    src.add_argument("--data", nargs="+", metavar="gm8|DIR",
                     help="'gm8' (both built-in soundfonts, default) or folders of class folders, one source each")
    src.add_argument("--nsynth", metavar="ROOT", help="NSynth's layout (examples.json + audio/)")
    src.add_argument("--train", nargs="+", metavar="DIR", help="training folders (with --test)")
    r.add_argument("--test", nargs="+", metavar="DIR", help="test folders (with --train)")
    r.add_argument("--families", nargs="+", metavar="NAME", help="NSynth families to keep (with --nsynth)")
    r.add_argument("--split", choices=("source", "pitch", "random"), default="source",
                   help="leave one source out (default), hold out pitches, or a random stratified split")
    r.add_argument("--features", nargs="+", metavar="NAME",
                   help=f"representations for the classifiers: {' '.join(REPRESENTATIONS)}, or none")
    r.add_argument("--classifiers", nargs="+", metavar="NAME",
                   help="logreg svc knn rf10 rf100 mlp, or none")
    r.add_argument("--models", nargs="+", metavar="NAME",
                   help=f"networks: {' '.join(NETWORKS)}, or none")
    r.add_argument("--seeds", type=int, default=1, help="seeds per pipeline (default 1)")
    r.add_argument("--quick", action="store_true", help="fewer notes, networks and steps (the demo)")
    r.add_argument("--steps", type=int, default=None, help="most steps per network (default 2000; quick 300)")
    r.add_argument("--skip-bad-files", action="store_true", help="skip unreadable audio files, naming them")
    r.add_argument("--sr", type=int, default=16000, help="sampling rate in Hz (default 16000)")
    r.add_argument("--duration", type=float, default=None, help="seconds per note for folders (default longest)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--out", default="runs/recognition", help="output folder (default runs/recognition)")
    r.add_argument("--logdir", default=None, help="TensorBoard log folder: one run per network trained")
    r.add_argument("--force", action="store_true",
                   help="write into an existing --out that jaxmusic did not write (only its own names are replaced)")
    r.set_defaults(func=_run)
