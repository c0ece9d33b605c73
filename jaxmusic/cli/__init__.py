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
"""

from __future__ import annotations

import argparse
import sys

from .._checks import JaxMusicError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``jaxmusic`` command."""
    from .autoencoder import add_train_autoencoder_subcommand
    from .demo import add_demo_subcommand
    from .experiment import add_experiment_subcommand
    from .hybridize import add_hybridize_subcommand
    from .features import add_features_subcommand
    from .recognition import add_recognition_subcommand
    from .wavenet import add_wavenet_subcommands

    p = argparse.ArgumentParser(prog="jaxmusic", description="Music representations and models in JAX.")
    sub = p.add_subparsers(dest="command", required=True)
    add_recognition_subcommand(sub)
    add_features_subcommand(sub)
    add_hybridize_subcommand(sub)
    add_experiment_subcommand(sub)
    add_train_autoencoder_subcommand(sub)
    add_wavenet_subcommands(sub)
    add_demo_subcommand(sub)
    return p


def main(argv=None) -> int:
    """Run the ``jaxmusic`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Exit codes: 0 done, 2 a jaxmusic error (the message says what and how to fix it),
    130 interrupted (Ctrl-C: the message says what was kept and how to resume)."""
    from .._files import Interrupted

    args = build_parser().parse_args(argv)
    try:
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


def _kept(args) -> str:
    """What an interrupted command keeps, when its library call did not say (the training and
    extraction loops, and the recognition table, raise `Interrupted` with their own account)."""
    command = getattr(args, "command", None)
    if command in ("hybridize", "translate"):
        return "nothing was written (the output and its figure are written whole, at the end)"
    out = getattr(args, "out", None) or (f"runs/{args.name}" if command == "experiment" and args.name else None)
    if out is not None:
        return (f"the results in {out} are incomplete; rerun the same command (models it trained and features it "
                "extracted are reused, the rest is computed again)")
    return "rerun the same command to start again"
