"""The ``jaxmusic train-autoencoder`` sub-command: train the STFT-LSTM autoencoder.

The command parses its arguments and calls
`jaxmusic.synthesis.autoencoder.train_autoencoder`; it then writes the
reconstruction of the first training sound (``reconstruction.wav`` and
``reconstruction.png``) beside the model, the seed's sanity check.

Examples
--------
    jaxmusic train-autoencoder guitar.wav --out runs/ae-guitar
    jaxmusic train-autoencoder gm8:trumpet --steps 1500 --out runs/ae-trumpet
    jaxmusic train-autoencoder solos/ --context 1 --no-lstm --out runs/ae-plain   # the seed's ablation
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._outputs import add_force, input_paths, trained_line

__all__ = ["add_train_autoencoder_subcommand", "run_train_autoencoder"]


def add_train_autoencoder_subcommand(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train-autoencoder", help="train the STFT-LSTM timbre-transfer autoencoder",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", nargs="+", help="audio files, folders of them, or gm8:CLASS (built-in notes)")
    p.add_argument("--out", required=True, help="model folder (a rerun resumes an interrupted training)")
    p.add_argument("--logdir", default=None, help="TensorBoard log folder (curves, and audio at the end; may be --out)")
    p.add_argument("--sr", type=int, default=16000)
    p.add_argument("--n-fft", type=int, default=1024)
    p.add_argument("--hop-length", type=int, default=256)
    p.add_argument("--context", type=int, default=4, help="frames of input context (1 = none)")
    p.add_argument("--no-lstm", action="store_true", help="a dense hidden layer instead of the LSTM")
    p.add_argument("--linear", action="store_true", help="linear magnitudes instead of log1p")
    p.add_argument("--hidden", type=int, default=256, help="width of the dense encoder and decoder layers")
    p.add_argument("--latent", type=int, default=128, help="width of the LSTM (latent code)")
    p.add_argument("--seq-len", type=int, default=32, help="frames per training sequence")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_force(p, "the model into --out")
    p.set_defaults(func=run_train_autoencoder)
    return p


def run_train_autoencoder(args) -> int:
    from .._files import claim_dir
    from ..audio import save
    from ..synthesis._common import fit_peak, read_inputs
    from ..synthesis.autoencoder import _LEGACY, reconstruct, train_autoencoder

    out = claim_dir(args.out, "autoencoder", force=args.force, legacy=_LEGACY, inputs=input_paths(args.audio))
    inputs = read_inputs(args.audio, sr=args.sr)
    ae = train_autoencoder(
        [y for _, y in inputs], sr=args.sr, n_fft=args.n_fft, hop_length=args.hop_length, context=args.context,
        lstm=not args.no_lstm, log=not args.linear, encoder=(args.hidden,), latent=args.latent,
        decoder=(args.hidden,), seq_len=args.seq_len, steps=args.steps, batch_size=args.batch_size,
        learning_rate=args.lr, eval_every=args.eval_every, seed=args.seed, out=out, logdir=args.logdir,
        progress=not args.quiet)
    name, y = inputs[0]
    rec = fit_peak(reconstruct(ae, y), name="reconstruction")
    save(out / "reconstruction.wav", rec, ae.config.sr, overwrite=True)
    try:
        from ..plot import figure_spectrograms
    except ImportError:  # pragma: no cover - the figure helper lands with the evaluations
        figure_spectrograms = None
    if figure_spectrograms is not None:
        figure_spectrograms({f"input ({Path(name).name})": y, "reconstruction": rec}, ae.config.sr,
                            out / "reconstruction.png", title="autoencoder reconstruction of its training sound")
    info = ae.info
    line = trained_line(info, out)
    if not line.startswith("already"):
        line += ((f", validation loss {info['val_loss']:.4g}" if info.get("val_loss") is not None else "")
                 + f" ({info['sequences']} sequences); model in {out}")
    print(line)
    from ..report import write_report

    print(f"listening page: {write_report(out)}")
    return 0
