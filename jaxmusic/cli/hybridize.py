"""The ``jaxmusic hybridize`` sub-command: cross-synthesis of two sounds.

Parses its arguments and calls `jaxmusic.synthesis.hybridize`; writes the output
(scaled down with a warning if it would clip), a spectrogram figure of source,
target and output beside it (``OUT.png``) and a listening page (``OUT.html``).

Examples
--------
    jaxmusic hybridize voice.wav guitar.wav -o out.wav                       # cepstral envelope
    jaxmusic hybridize --method mosaic voice.wav guitar1.wav guitar2.wav -o out.wav
    jaxmusic hybridize --method sinusoidal --alpha 0.3 flute.wav trumpet.wav -o morph.wav
    jaxmusic hybridize --method autoencoder --model runs/ae-guitar voice.wav -o out.wav
    jaxmusic hybridize --method autoencoder voice.wav guitar.wav -o out.wav  # trains out.autoencoder/
    jaxmusic hybridize --method wavenet --model runs/translator voice.wav -o out.wav -p to=flute
    jaxmusic hybridize --method wavenet --model runs/translator a.wav b.wav --alpha 0.5 -o morph.wav
    jaxmusic hybridize gm8:female_singer gm8:trumpet -o out.wav              # built-in notes
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._outputs import add_force, input_paths

__all__ = ["add_hybridize_subcommand", "run_hybridize"]


def add_hybridize_subcommand(sub) -> argparse.ArgumentParser:
    from ..synthesis.hybridize import METHODS

    p = sub.add_parser("hybridize", help="cross-synthesis: envelope, mosaic, sinusoidal morph, autoencoder",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="the sound to transform (file, or gm8:CLASS for its first built-in note)")
    p.add_argument("targets", nargs="*", help="target sound(s): envelope donor, mosaic corpus, morph partner, "
                                              "or the autoencoder's training sounds (files, folders, gm8:CLASS)")
    p.add_argument("-o", "--output", required=True, help="output audio file (.wav, .flac, ...)")
    p.add_argument("--method", choices=METHODS, default="envelope")
    p.add_argument("--sr", type=int, default=None,
                   help="working rate (default 22050; an autoencoder model's own; 16000 to train one)")
    p.add_argument("--model", default=None, help="trained autoencoder folder (jaxmusic train-autoencoder), or "
                                                 "WaveNet model folder (train-translator, train-wavenet)")
    p.add_argument("--alpha", type=float, default=0.5, help="morph position for --method sinusoidal and wavenet")
    p.add_argument("--steps", type=int, default=1000, help="training steps when the autoencoder is trained here")
    p.add_argument("-p", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="method option, e.g. -p n_fft=1024 -p n_coeffs=30 -p k=3")
    add_force(p, "OUT, OUT.png and OUT.html")
    p.set_defaults(func=run_hybridize)
    return p


def run_hybridize(args) -> int:
    from .._checks import ParameterError
    from .._files import check_output_file
    from ..synthesis._common import fit_peak, read_inputs
    from ..synthesis.hybridize import default_model_folder, hybridize, method_options

    # the outputs are checked before any work: never an input, never a file jaxmusic did not write
    inputs = input_paths([args.source, *args.targets, args.model])
    output = check_output_file(args.output, inputs=inputs, overwrite=args.force)
    figure = check_output_file(output.with_suffix(".png"), inputs=inputs, overwrite=args.force,
                               what="the spectrogram figure")
    page = check_output_file(output.with_suffix(".html"), inputs=inputs, overwrite=args.force,
                             what="the listening page")
    options = method_options(args.option)
    if args.model is not None and args.method not in ("autoencoder", "wavenet"):
        raise ParameterError(f"--model is for --method autoencoder or wavenet, not {args.method}")
    model = None
    if args.method == "wavenet":
        from ..synthesis.wavenet import load_wavenet

        if args.model is None:
            raise ParameterError("--method wavenet needs --model (a folder of jaxmusic train-translator or train-wavenet)")
        model = load_wavenet(args.model)
        if args.sr is not None and args.sr != model.sr:
            raise ParameterError(f"the WaveNet model works at {model.sr} Hz, not --sr {args.sr}")
        sr = model.sr
    elif args.method == "autoencoder" and args.model is not None:
        from ..synthesis.autoencoder import check_config, load_autoencoder

        model = load_autoencoder(args.model)
        check_config(model, sr=args.sr)
        sr = model.config.sr
    elif args.method == "autoencoder":
        sr = args.sr or 16000
        from .._files import check_not_input

        folder = check_not_input(default_model_folder(args.output), inputs, what="the autoencoder's folder")
        options = {"out": folder, "steps": args.steps, "force": args.force, **options}
    else:
        sr = args.sr or 22050
    if not args.targets and model is None:
        raise ParameterError(f"--method {args.method} needs at least one target sound")
    name, source = read_inputs([args.source], sr=sr)[0]
    targets = read_inputs(args.targets, sr=sr) if args.targets else []
    out, out_sr = hybridize(source, [y for _, y in targets], method=args.method, sr=sr, model=model,
                            alpha=args.alpha, **options)
    out = fit_peak(out, name="the output")
    output.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        _write_outputs(args, output, figure, page, out, out_sr, source, targets, name, written)
    except KeyboardInterrupt as err:
        from .._files import Interrupted

        done = ", ".join(map(str, written)) or "nothing"
        raise Interrupted(f"hybridize: interrupted while writing its outputs: {done} written; rerun with --force "
                          "to write them all again") from err
    print(f"wrote {output} ({len(out) / out_sr:.2f} s at {out_sr} Hz), {figure} and {page} (the listening page)")
    return 0


def _write_outputs(args, output, figure, page, out, out_sr, source, targets, name, written) -> None:
    """OUT.wav, OUT.png and OUT.html, in that order, each written whole (``written`` lists them as they land)."""
    from ..audio import save
    from ..plot import figure_spectrograms
    from ..report import write_output_report

    save(output, out, out_sr, overwrite=args.force)
    written.append(output)
    panels = {f"source ({Path(name).name})": source}
    if targets:
        more = f", first of {len(targets)} target files" if len(targets) > 1 else ""
        panels[f"target ({Path(targets[0][0]).name}{more})"] = targets[0][1]
    panels[f"output ({args.method})"] = out
    figure_spectrograms(panels, out_sr, figure, title=f"jaxmusic hybridize --method {args.method}")
    written.append(figure)
    write_output_report(output, figure, title=f"jaxmusic hybridize --method {args.method}: {output.name}",
                        inputs=[args.source, *args.targets], overwrite=args.force)
    written.append(page)
