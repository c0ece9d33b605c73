"""The ``jaxmusic`` command: one small module per sub-command, each parsing its
arguments and calling one library function.

- ``jaxmusic recognition``: the instrument-recognition table (`jaxmusic.experiments.recognition`).
- ``jaxmusic features``: features of a data set on disk (`jaxmusic.extract`).
- ``jaxmusic experiment NAME``: one of the seed's experiments (`jaxmusic.experiments`).
- ``jaxmusic hybridize``: cross-synthesis of two sounds (`jaxmusic.synthesis.hybridize`).
- ``jaxmusic train-autoencoder``: the timbre-transfer autoencoder (`jaxmusic.synthesis.autoencoder`).
- ``jaxmusic train-wavenet``, ``train-translator``, ``translate``: WaveNet autoencoders and
  the universal music translator (`jaxmusic.synthesis.wavenet`).
- ``jaxmusic demo``: features of one built-in note.
- ``jaxmusic report``: the listening page of a run folder (`jaxmusic.report`).
"""

from __future__ import annotations

import argparse
import sys

from .._checks import JaxMusicError

__all__ = ["main", "run", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``jaxmusic`` command."""
    from .autoencoder import add_train_autoencoder_subcommand
    from .demo import add_demo_subcommand
    from .experiment import add_experiment_subcommand
    from .hybridize import add_hybridize_subcommand
    from .features import add_features_subcommand
    from .recognition import add_recognition_subcommand
    from .report import add_report_subcommand
    from .wavenet import add_wavenet_subcommands

    p = argparse.ArgumentParser(prog="jaxmusic", description="Music representations and models in JAX.")
    p.add_argument("--no-compile-cache", action="store_true",
                   help="compile every jitted function again instead of reading JAX's persistent compilation "
                        "cache ($JAXMUSIC_CACHE_DIR, else ~/.cache/jaxmusic/jax; see jaxmusic.compile_cache)")
    sub = p.add_subparsers(dest="command", required=True)
    add_recognition_subcommand(sub)
    add_features_subcommand(sub)
    add_hybridize_subcommand(sub)
    add_experiment_subcommand(sub)
    add_train_autoencoder_subcommand(sub)
    add_wavenet_subcommands(sub)
    add_demo_subcommand(sub)
    add_report_subcommand(sub)
    return p


def main(argv=None) -> int:
    """Run the ``jaxmusic`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    JAX's persistent compilation cache is on for the command (``--no-compile-cache`` turns it
    off; `jaxmusic.compile_cache` says where it is) and JAX's settings are restored after it.
    Exit codes: 0 done, 2 a jaxmusic error (the message says what and how to fix it),
    130 interrupted (Ctrl-C: the message says what was kept and how to resume)."""
    from .._files import Interrupted
    from ..compile_cache import compile_cache

    args = build_parser().parse_args(argv)

    def cache_refused(err):  # a cache folder jaxmusic may not write: the command runs without the cache
        print(f"jaxmusic: warning: running without the compilation cache: {err}", file=sys.stderr)

    try:
        with compile_cache(enabled=not args.no_compile_cache, on_refused=cache_refused):
            return int(args.func(args) or 0)
    except JaxMusicError as err:
        print(f"jaxmusic: error: {err}", file=sys.stderr)
        return 2
    except Interrupted as err:
        print(f"\njaxmusic: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"\njaxmusic: interrupted; {_kept(args)}", file=sys.stderr)
        return 130


def run() -> None:
    """The ``jaxmusic`` executable: `main`, then an exit that suits a program driving JAX.

    After Ctrl-C the process ends with status 130 without tearing the interpreter down
    (a compilation may still be running in one of XLA's threads, which the teardown would
    crash); a second Ctrl-C ends it at once (the first can be swallowed by a callback
    running in JAX); once the work is done and written, Ctrl-C no longer interrupts."""
    import os
    import signal

    presses = []

    def on_sigint(signum, frame):
        presses.append(signum)
        if len(presses) > 1:
            sys.stderr.write("\njaxmusic: interrupted again: stopping now\n")
            sys.stderr.flush()
            os._exit(130)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout.flush()
    sys.stderr.flush()
    if code == 130:
        os._exit(130)
    sys.exit(code)


def _kept(args) -> str:
    """What an interrupted command keeps, when its library call did not say (the training and
    extraction loops, and the recognition table, raise `Interrupted` with their own account)."""
    command = getattr(args, "command", None)
    if command in ("hybridize", "translate"):
        return "nothing was written (outputs are written once the sound is computed)"
    if command == "features":
        return (f"the features computed so far are kept in {args.out}; rerun the same command to resume "
                "(it says how many notes are done)")
    out = getattr(args, "out", None) or (f"runs/{args.name}" if command == "experiment" and args.name else None)
    if out is not None:
        return (f"the results in {out} are incomplete; rerun the same command (what it saved is reused, "
                "the rest computed again)")
    return "rerun the same command to start again"
