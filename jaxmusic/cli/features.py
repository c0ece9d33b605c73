"""The ``jaxmusic features`` sub-command: a data set, a transform, features on disk.

`add_features_subcommand` adds the sub-command to an `argparse` sub-parser
set; `run_features` runs it. The command only parses and calls library
functions: `jaxmusic.extract.extract` does the work.

Examples
--------
    jaxmusic features --data gm8 --transform scattering -p J=6 -p Q=8 --out runs/feat
    jaxmusic features --data nsynth:~/nsynth-test --transform mfcc -p n_mfcc=20 --out runs/mfcc
    jaxmusic features --data ~/solos --duration 2 --transform cqt --out runs/cqt
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
from pathlib import Path


from .._checks import JaxMusicError, ParameterError

__all__ = ["add_features_subcommand", "run_features", "build_transform", "build_dataset",
           "TRANSFORMS"]

#: Transform names the command knows, with where to find each (first found wins)
#: and default parameters. Any other ``module:attribute`` works too.
TRANSFORMS = {
    "mfcc": (["jaxmusic.features:MFCC"], {}),
    "mel": (["jaxmusic.features:MelSpectrogram"], {}),
    "cqt": (["jaxmusic.features:CQT"], {}),
    "scattering": (["jaxmusic.scattering:Scattering1D", "jaxmusic.scattering.time:Scattering1D",
                    "jaxmusic:Scattering1D"], {"J": 6, "Q": 8}),
    "jtfs": (["jaxmusic.scattering:TimeFrequencyScattering", "jaxmusic.scattering:JTFS",
              "jaxmusic.scattering.jtfs:TimeFrequencyScattering", "jaxmusic:TimeFrequencyScattering"],
             {"J": 6, "J_fr": 2, "Q": 8}),
    "spiral": (["jaxmusic.scattering:SpiralScattering", "jaxmusic.scattering.spiral:SpiralScattering",
                "jaxmusic:SpiralScattering"], {"J": 6, "Q": 8}),
}


def _resolve(target: str):
    module, _, attr = target.partition(":")
    if not attr:
        raise ParameterError(f"a transform path must read module:attribute, got {target!r}")
    try:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise LookupError(f"{target}: {err}") from err
    return obj


def build_transform(name: str, *, sr: int, n_samples: int, params: dict | None = None):
    """Make a transform from its name (`TRANSFORMS`) or ``module:attribute``.

    A class is instantiated with ``params`` (plus ``sr`` and ``shape`` when it
    takes them and they are not given); a function gets them bound with
    `functools.partial`.
    """
    import functools

    params = dict(params or {})
    if name in TRANSFORMS:
        candidates, defaults = TRANSFORMS[name]
        params = {**defaults, **params}
    elif ":" in name:
        candidates = [name]
    else:
        raise ParameterError(
            f"unknown transform {name!r}: use one of {sorted(TRANSFORMS)} or module:attribute"
        )
    errors = []
    for target in candidates:
        try:
            factory = _resolve(target)
            break
        except LookupError as err:
            errors.append(str(err))
    else:
        raise JaxMusicError(f"transform {name!r} is not available here ({'; '.join(errors)})")
    try:
        accepted = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepted = {}
    if "sr" in accepted and "sr" not in params:
        params["sr"] = sr
    if "shape" in accepted and "shape" not in params:
        params["shape"] = n_samples
    named = [k for k, p in accepted.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_any = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
    unknown = [k for k in params if k not in named] if accepted and not takes_any else []
    if unknown:
        import difflib

        hints = [f"{u!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, named, n=1)) else repr(u)
                 for u in unknown]
        raise ParameterError(f"transform {name!r} takes no parameter {', '.join(hints)}; its parameters are "
                             f"{', '.join(k for k in named if k != 'self')}")
    if inspect.isclass(factory):
        return factory(**params)
    return functools.partial(factory, **params)


def build_dataset(spec: str, *, sr: int, duration: float | None, on_error: str = "raise",
                  audio_cache=None, seed: int = 0, force: bool = False):
    """Make a `Dataset` from a command-line spec.

    ``gm8``, ``gm8:alt`` (the alternative GM programs), ``synthetic``, a folder of
    class folders (``DIR``, as ``jaxmusic recognition --data DIR`` takes it, or
    ``folder:DIR``), ``nsynth:PATH``, or a `Dataset.save` folder (``DIR`` or ``saved:DIR``).
    """
    from ..data import Dataset, gm8, load_folder, load_nsynth, synthetic_notes

    if spec not in ("gm8", "synthetic") and ":" not in spec.split("/")[0] and Path(spec).expanduser().exists():
        # a bare path, as `jaxmusic recognition --data DIR` takes it: a saved data set or a folder of class folders
        path = Path(spec).expanduser()
        return (Dataset.load(path, mmap=True) if (path / "dataset.json").is_file() else
                load_folder(path, sr=sr, duration=duration, on_error=on_error, out=audio_cache, force=force))
    kind, _, path = spec.partition(":")
    if kind == "gm8":
        if path not in ("", "alt"):
            raise ParameterError(f"--data gm8 takes no argument but 'alt', got {spec!r}")
        return gm8(sr=sr, duration=duration or 1.0, programs="alt" if path else None, mmap=True)
    if kind == "synthetic":
        import jax

        return synthetic_notes(jax.random.key(seed), sr=sr, duration=duration or 1.0)
    if not path:
        raise ParameterError(f"--data {kind} needs a path: {kind}:PATH")
    path = Path(path).expanduser()
    if kind == "folder":
        return load_folder(path, sr=sr, duration=duration, on_error=on_error, out=audio_cache, force=force)
    if kind == "nsynth":
        return load_nsynth(path, sr=sr, duration=duration, on_error=on_error, out=audio_cache, force=force)
    if kind == "saved":
        return Dataset.load(path, mmap=True)
    raise ParameterError(
        f"--data must be gm8, gm8:alt, synthetic, a folder (DIR or folder:DIR), nsynth:PATH or a saved data set "
        f"(DIR or saved:DIR); got {spec!r} (no such folder?)"
    )


def _param(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a bare string


def add_features_subcommand(subparsers):
    """Add ``features`` to ``subparsers`` (from ``parser.add_subparsers()``).

    Returns the new parser; its ``func`` default is `run_features`.
    """
    p = subparsers.add_parser(
        "features",
        help="compute features of a data set to disk (resumable)",
        description="Run a transform over a data set in compiled batches on all local devices, "
        "writing features to OUT in chunks; run it again to resume an interrupted run. "
        "OUT/features.npy holds the features (n, ...), OUT/metadata.npz the labels, classes, "
        "pitches, velocities, sources and paths.",
    )
    p.add_argument("--data", default="gm8", metavar="SPEC",
                   help="gm8 (default; rendered once and cached), gm8:alt, synthetic, a folder of class "
                        "folders (DIR, as recognition --data takes it), nsynth:PATH, or a saved data set")
    p.add_argument("--transform", required=True,
                   help=f"one of {', '.join(sorted(TRANSFORMS))}, or module:attribute")
    p.add_argument("-p", "--param", action="append", type=_param, default=[], metavar="KEY=VALUE",
                   help="transform parameter (a Python literal), repeatable: -p J=8 -p Q='(12, 1)'")
    p.add_argument("--out", required=True, help="folder for the features")
    p.add_argument("--sr", type=int, default=16000, help="sampling rate in Hz (default 16000)")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds per note (default: 1 s for gm8/synthetic, longest file otherwise)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--chunk-size", type=int, default=256, help="most notes per chunk on disk (the unit of resumption)")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="unreadable audio files: stop (default) or skip with a warning naming them")
    p.add_argument("--audio-cache", default=None, metavar="DIR",
                   help="decode folder/nsynth audio into DIR (memory-mapped) instead of memory")
    p.add_argument("--restart", action="store_true", help="discard finished chunks and start over")
    p.add_argument("--chunk-seconds", type=float, default=15.0,
                   help="most seconds of work per chunk on disk (an interruption loses at most this)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true",
                   help="write --out (and --audio-cache) into existing folders jaxmusic did not write "
                        "(only the names jaxmusic writes are replaced; nothing else is touched)")
    p.set_defaults(func=run_features)
    return p


def run_features(args) -> int:
    """Run the ``features`` sub-command with parsed ``args``; returns 0."""
    from .._files import claim_dir
    from ..extract import _LEGACY, extract

    if args.audio_cache is not None and Path(args.audio_cache).expanduser().resolve() == \
            Path(args.out).expanduser().resolve():
        raise ParameterError(f"--audio-cache and --out name the same folder ({args.out}): the decoded audio and "
                             "the features are two folders; pick another for one of them")
    kind, colon, rest = args.data.partition(":")
    data_path = rest if colon and kind in ("folder", "nsynth", "saved") else (args.data if not colon else None)
    out = claim_dir(args.out, "features", force=args.force, legacy=_LEGACY,
                    inputs=[Path(data_path).expanduser()] if data_path not in (None, "gm8", "synthetic") else [])
    ds = build_dataset(args.data, sr=args.sr, duration=args.duration, on_error=args.on_error,
                       audio_cache=args.audio_cache, force=args.force)
    transform = build_transform(args.transform, sr=ds.sr, n_samples=ds.n_samples,
                                params=dict(args.param))
    feats = extract(ds, transform, batch_size=args.batch_size, out=out,
                    chunk_size=args.chunk_size, chunk_seconds=args.chunk_seconds, resume=not args.restart,
                    progress=not args.no_progress, desc=args.transform)
    summary = {
        "out": str(Path(args.out) / "features.npy"),
        "shape": list(feats.shape),
        "dtype": str(feats.dtype),
        "notes": len(ds),
        "classes": list(ds.classes),
        "transform": args.transform,
        "params": {k: repr(v) for k, v in dict(args.param).items()},
    }
    print(json.dumps(summary, indent=1))
    return 0
