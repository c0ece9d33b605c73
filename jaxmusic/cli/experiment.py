"""The ``jaxmusic experiment NAME`` sub-command: one of the seed's experiments on built-in data.

Each experiment is a library function ``run_NAME(out, *, quick=False)`` in
`jaxmusic.experiments`; it writes its figures and a JSON of its numbers to
``--out`` (default ``runs/NAME``) and the command prints where.

Examples
--------
    jaxmusic experiment timbre --quick          # timbre transfer: pitch test, reconstruction, bandwidth
    jaxmusic experiment helix --out runs/helix  # the pitch helix from CQT covariances (Isomap)
    jaxmusic experiment --list
"""

from __future__ import annotations

import argparse
import importlib
import inspect

__all__ = ["add_experiment_subcommand", "run_experiment", "EXPERIMENTS"]

#: name -> (module, function, what it shows)
EXPERIMENTS = {
    "timbre": ("jaxmusic.experiments.timbre", "run_timbre_transfer",
               "timbre transfer: every method's pitch test, reconstruction, bandwidth, spectrograms"),
    "properties": ("jaxmusic.experiments.properties", "run_properties",
                   "discriminability, stability, invariance, reconstruction of every representation"),
    "transposition": ("jaxmusic.experiments.properties", "run_transposition",
                      "distances between a note and its transpositions, per representation"),
    "helix": ("jaxmusic.experiments.helix", "run_helix", "the pitch helix: Isomap of CQT-bin covariances"),
    "kmeans": ("jaxmusic.experiments.clustering", "run_kmeans", "k-means of note features, purity per class"),
    "linearization": ("jaxmusic.experiments.linearization", "run_linearization",
                      "an MLP's layers projected in 2-d, linear separability per layer"),
    "inversion": ("jaxmusic.experiments.inversion", "run_inversion",
                  "a signal rebuilt from its scattering / JTFS coefficients by gradient descent"),
    "style": ("jaxmusic.experiments.style", "run_style", "style transfer through differentiable transforms"),
    "translation": ("jaxmusic.experiments.translation", "run_translation",
                    "WaveNet autoencoder and music translator: reconstruction, translation pitch test, morphs"),
}


#: name -> (quick, full): wall time of a first run (no compilation cache) on a 2-core CPU,
#: measured 2026-12-07 (timbre and translation full: the README's runs)
DURATIONS = {
    "helix": ("4 s", "4 s"), "kmeans": ("7 s", "7 s"), "linearization": ("8 s", "9 s"),
    "transposition": ("10 s", "1 min"), "properties": ("19 s", "26 s"), "inversion": ("19 s", "67 s"),
    "style": ("35 s", "2.2 min"), "timbre": ("52 s", "25 min"), "translation": ("79 s", "28 min"),
}


def add_experiment_subcommand(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("experiment", help="run one of the seed's experiments on built-in data",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", choices=sorted(EXPERIMENTS), help="the experiment")
    p.add_argument("--out", default=None, help="results folder (default runs/NAME)")
    p.add_argument("--quick", action="store_true", help="a smaller run (minutes on a laptop CPU)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--force", action="store_true",
                   help="write into an existing --out that jaxmusic did not write (only its own names are replaced)")
    p.set_defaults(func=run_experiment)
    return p


def run_experiment(args) -> int:
    from .._checks import ParameterError

    if args.list or args.name is None:
        print(f"{'name':14s} {'--quick':>8s} {'full':>8s}  what (times: a first run on a 2-core CPU)")
        for name, (_, _, what) in sorted(EXPERIMENTS.items()):
            quick, full = DURATIONS.get(name, ("?", "?"))
            print(f"{name:14s} {quick:>8s} {full:>8s}  {what}")
        if args.name is None and not args.list:
            raise ParameterError("name an experiment: jaxmusic experiment NAME (see --list)")
        return 0
    module, func, _ = EXPERIMENTS[args.name]
    fn = getattr(importlib.import_module(module), func)
    out = args.out or f"runs/{args.name}"
    kwargs = {"quick": True} if args.quick and "quick" in inspect.signature(fn).parameters else {}
    fn(out, force=args.force, **kwargs)
    from ..report import write_report

    page = write_report(out)
    print(f"jaxmusic experiment {args.name}: figures and numbers in {out}; listening page {page}")
    return 0
