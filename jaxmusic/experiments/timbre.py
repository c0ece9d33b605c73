"""The seed's timbre-transfer evaluation on the built-in notes: `run_timbre_transfer`.

Gabrielli, Cella et al. (2017) train the STFT-LSTM autoencoder on one
instrument (a file, or a whole class), pass other sounds through it, and
compare it with two traditional methods. This experiment does the same with
`jaxmusic.data.gm8` and reports:

- **reconstruction** of the training class (spectral convergence, log-spectral
  distance) for the autoencoder and for the plain STFT autoencoder of the
  seed's ablation (no input context, no LSTM);
- **the pitch test**: random MIDI melodies of every *other* class
  (`pitch_test_notes`) through each method; the share of notes whose output
  lost the input's pitch (pYIN; the identity method is the test's floor);
- **bandwidth**: with one autoencoder per training class, the output's
  bandwidth against that of the training class and of the input (the seed:
  "the bandwidth of the output is related to that of the class used for
  training");
- **spectrograms** of input, target and every method's output.

Every result goes to ``out``: ``results.json``, ``results.md`` and the figures;
trained models stay in ``out/models`` (a rerun reuses or resumes them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .._checks import ParameterError
from .._files import claim_dir, write_json, write_text

__all__ = ["run_timbre_transfer", "TIMBRE_QUICK", "TIMBRE_FULL"]

#: Sizes of the quick run (``make``-time, a few minutes) and of the full one.
TIMBRE_QUICK = dict(n_files=1, n_notes=5, steps=400, train_classes=("trumpet", "flute"))
TIMBRE_FULL = dict(n_files=5, n_notes=20, steps=3000, train_classes=("trumpet", "flute", "distorted guitar"))

SR = 16000
AE_OPTIONS = dict(n_fft=1024, hop_length=256, encoder=(256,), latent=128, decoder=(256,), seq_len=32,
                  batch_size=16, learning_rate=1e-3)
ENVELOPE_OPTIONS = dict(n_fft=1024, hop_length=256, n_coeffs=30)
MOSAIC_OPTIONS = dict(n_fft=1024, hop_length=256, n_mfcc=20, k=1)


def _train(notes, cls, folder, *, steps, ablation, seed, progress):
    from ..synthesis.autoencoder import load_autoencoder, train_autoencoder

    opts = dict(AE_OPTIONS, context=1, lstm=False) if ablation else dict(AE_OPTIONS, context=4, lstm=True)
    folder = Path(folder)
    if (folder / "model").is_dir() and (folder / "autoencoder.json").is_file():
        ae = load_autoencoder(folder)
        if ae.info.get("complete") and ae.info.get("steps") == steps and ae.info.get("seed") == seed:
            return ae
    return train_autoencoder(list(notes), sr=SR, steps=steps, seed=seed, out=folder, progress=progress,
                             eval_every=50, **opts)  # fixed, so that a rerun with more steps resumes


def run_timbre_transfer(out, *, quick: bool = False, train_classes: Sequence[str] | None = None,
                        input_classes: Sequence[str] | None = None, n_files: int | None = None,
                        n_notes: int | None = None, steps: int | None = None, ablation: bool = True,
                        seed: int = 0, progress: bool = True, force: bool = False) -> dict:
    """Train, transfer and evaluate, on the built-in notes; write figures and tables.

    Parameters
    ----------
    out : str or path-like
        Results folder.
    quick : bool
        `TIMBRE_QUICK` sizes (two training classes, 400 steps, one 5-note
        melody per input class) instead of `TIMBRE_FULL` (three classes, 3000
        steps, five 20-note melodies per class: the seed's 5 x 20 x classes).
    train_classes : sequence of str, optional
        gm8 classes to train one autoencoder each on; the first is the target
        of every method in the pitch test and the figures.
    input_classes : sequence of str, optional
        gm8 classes of the pitch test's melodies; default every class not trained on.
    n_files, n_notes, steps : int, optional
        Override the sizes.
    ablation : bool
        Also train the plain STFT autoencoder (no context, no LSTM) on the
        first class and evaluate it beside the full one (default True).
    seed : int
    progress : bool

    Returns
    -------
    dict
        ``reconstruction``, ``pitch_test`` (per method), ``bandwidth``, ``settings``.
    """
    from ..data import gm8
    from ..data.soundfont import GM8_CLASSES
    from ..plot import figure_spectrograms
    from ..synthesis.autoencoder import reconstruct, transfer
    from ..synthesis.envelope import envelope_hybrid
    from ..synthesis.evaluate import bandwidth_comparison, pitch_test, pitch_test_notes, reconstruction
    from ..synthesis.mosaic import mosaic
    from ..synthesis.sinusoidal import sinusoidal_morph

    t0 = time.perf_counter()
    sizes = dict(TIMBRE_QUICK if quick else TIMBRE_FULL)
    for k, v in (("train_classes", train_classes), ("n_files", n_files), ("n_notes", n_notes), ("steps", steps)):
        if v is not None:
            sizes[k] = tuple(v) if k == "train_classes" else int(v)
    classes = tuple(sizes["train_classes"])
    unknown = [c for c in classes if c not in GM8_CLASSES]
    if unknown or not classes:
        raise ParameterError(f"train_classes must be gm8 classes ({', '.join(GM8_CLASSES)}), got {list(classes)}")
    inputs = [c for c in GM8_CLASSES if c not in classes] if input_classes is None else list(input_classes)
    if not inputs or any(c not in GM8_CLASSES for c in inputs):
        raise ParameterError(f"input_classes must be gm8 classes ({', '.join(GM8_CLASSES)}), got {inputs}")
    out = claim_dir(out, "experiment-timbre", force=force)
    main_cls = classes[0]

    # training data: every note of each class (the seed's "entire instrument class"), every semitone
    data = gm8(sr=SR, classes=list(classes), pitch_step=1)
    train_notes = {c: np.asarray(data.audio)[data.label == data.classes.index(c)] for c in classes}
    models = {}
    for c in classes:
        models[c] = _train(train_notes[c], c, out / "models" / c.replace(" ", "-"), steps=sizes["steps"],
                           ablation=False, seed=seed, progress=progress)
    plain = None
    if ablation:
        plain = _train(train_notes[main_cls], main_cls, out / "models" / f"{main_cls.replace(' ', '-')}-plain",
                       steps=sizes["steps"], ablation=True, seed=seed, progress=progress)
    variants = [("autoencoder", models[main_cls])] + ([("plain autoencoder", plain)] if plain is not None else [])

    # reconstruction of the training class (its first notes, one after the other)
    ref = np.concatenate(train_notes[main_cls][:: max(1, len(train_notes[main_cls]) // 8)][:8])
    recon = {}
    for name, ae in variants:
        r = reconstruction(ref, reconstruct(ae, ref), sr=SR, n_fft=1024, hop_length=256,
                           out=out / f"reconstruction-{name.replace(' ', '-')}", title=f"{name}, {main_cls}")
        recon[name] = {k: r[k] for k in ("spectral_convergence", "log_spectral_distance_db")}

    # the pitch test: melodies of every other class through each method
    notes = pitch_test_notes(n_files=sizes["n_files"], n_notes=sizes["n_notes"], classes=inputs, sr=SR, seed=seed)
    target = pitch_test_notes(n_files=1, n_notes=max(8, sizes["n_notes"]), classes=[main_cls], sr=SR,
                              seed=seed + 1)[0]["audio"]
    corpus = list(train_notes[main_cls])
    methods = {
        "identity": lambda y, sr: y,
        "envelope": lambda y, sr: envelope_hybrid(y, target, sr=sr, **ENVELOPE_OPTIONS)[: len(y)],
        "mosaic": lambda y, sr: mosaic(y, corpus, sr=sr, **MOSAIC_OPTIONS),
        **{name: (lambda y, sr, ae=ae: transfer(ae, y)) for name, ae in variants},
    }
    pitch = {}
    for name, fn in methods.items():
        r = pitch_test(fn, notes, sr=SR, out=out / f"pitch-{name.replace(' ', '-')}", progress=progress,
                       title=f"pitch test: {name}" + ("" if name == "identity" else f" ({main_cls} target)"))
        pitch[name] = {k: r[k] for k in ("lost_share", "n_notes", "n_lost", "octave_share", "unvoiced_share",
                                         "per_class")}

    # bandwidth: the same inputs through one autoencoder per training class
    melodies = [n["audio"] for n in notes]
    outputs = {c: [transfer(models[c], y) for y in melodies] for c in classes}
    band = bandwidth_comparison(outputs, {c: list(train_notes[c]) for c in classes}, melodies, sr=SR,
                                n_fft=1024, hop_length=256)

    # spectrograms: one input melody through every method
    y = melodies[0]
    panels = {f"input ({notes[0]['class']})": y, f"target ({main_cls})": target}
    for name in methods:
        if name != "identity":
            panels[name] = methods[name](y, SR)
    panels["sinusoidal morph (alpha 0.5)"] = sinusoidal_morph(y, target[: len(y)], 0.5, sr=SR, n_fft=1024,
                                                              hop_length=256)
    figure_spectrograms(panels, SR, out / "comparison.png", n_fft=1024, hop_length=256,
                        title=f"timbre transfer to {main_cls}: input, target and every method")
    # the same melody through every method, to listen to (audio/<method>.wav; the listening page
    # puts each beside its method's pitch test)
    from ..audio import save
    from ..synthesis._common import fit_peak

    audio_dir = out / "audio"
    audio_dir.mkdir(exist_ok=True)
    for name, signal in panels.items():
        stem = name.split(" (")[0].replace(" ", "-")
        save(audio_dir / f"{stem}.wav", fit_peak(np.asarray(signal, np.float32), name=name), SR,
             overwrite=True)
    _figure_summary(pitch, recon, band, out / "summary.png", main_cls=main_cls)

    settings = {"sr": SR, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in sizes.items()},
                "input_classes": inputs, "autoencoder": AE_OPTIONS, "envelope": ENVELOPE_OPTIONS,
                "mosaic": MOSAIC_OPTIONS, "seed": seed, "quick": quick}
    result = {"reconstruction": recon, "pitch_test": pitch, "bandwidth": band, "settings": settings,
              "seconds": time.perf_counter() - t0}
    write_json(out / "results.json", result)
    write_text(out / "results.md", format_results(result))
    return result


def format_results(result: dict) -> str:
    """The tables of `run_timbre_transfer` as Markdown."""
    s = result["settings"]
    lines = [f"# Timbre transfer on gm8 ({'quick' if s['quick'] else 'full'} run)", "",
             f"Autoencoders trained {s['steps']} steps on every note of each class ({', '.join(s['train_classes'])}); "
             f"pitch test: {s['n_files']} x {s['n_notes']} random notes of {', '.join(s['input_classes'])} "
             f"through methods targeting {s['train_classes'][0]}.", "",
             "| method | notes | lost pitch | octave errors | unvoiced |", "|---|---:|---:|---:|---:|"]
    for name, r in result["pitch_test"].items():
        lines.append(f"| {name} | {r['n_notes']} | {100 * r['lost_share']:.1f} % | {100 * r['octave_share']:.1f} % "
                     f"| {100 * r['unvoiced_share']:.1f} % |")
    lines += ["", "| reconstruction of the training class | spectral convergence | log-spectral distance (dB) |",
              "|---|---:|---:|"]
    for name, r in result["reconstruction"].items():
        lines.append(f"| {name} | {r['spectral_convergence']:.3f} | {r['log_spectral_distance_db']:.2f} |")
    band = result["bandwidth"]
    lines += ["", "| training class | training roll-off (Hz) | output roll-off (Hz) | nearer to |", "|---|---:|---:|---|"]
    for name, r in band.get("models", {}).items():
        lines.append(f"| {name} | {r['training']['rolloff_hz']:.0f} | {r['output']['rolloff_hz']:.0f} | {r['nearer']} |")
    if "input" in band:
        lines.append(f"| (input melodies) | | {band['input']['rolloff_hz']:.0f} | |")
    return "\n".join(lines) + "\n"


def _figure_summary(pitch, recon, band, path, *, main_cls):
    from ..plot import _pyplot, _save

    plt = _pyplot()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 3.8))
    names = list(pitch)
    a.bar(names, [100 * pitch[n]["lost_share"] for n in names], color="tab:blue")
    a.axhline(12, color="k", ls=":", lw=1, label="seed: 12 % (its autoencoder)")
    a.set_ylabel("notes that lost their pitch (%)"); a.set_title(f"pitch test (target {main_cls})"); a.legend(loc="upper left", fontsize=8)
    a.tick_params(axis="x", rotation=25)
    rn = list(recon)
    b.bar(rn, [recon[n]["spectral_convergence"] for n in rn], color="tab:orange")
    b.set_ylabel("spectral convergence (lower is better)"); b.set_title(f"reconstruction of {main_cls}")
    models = band.get("models", {})
    for name, r in models.items():
        c.scatter(r["training"]["rolloff_hz"], r["output"]["rolloff_hz"], s=40)
        c.annotate(name, (r["training"]["rolloff_hz"], r["output"]["rolloff_hz"]), fontsize=8)
    if "input" in band:
        c.axhline(band["input"]["rolloff_hz"], color="gray", ls="--", lw=1, label="input melodies")
    lims = [min([1000] + [min(r["training"]["rolloff_hz"], r["output"]["rolloff_hz"]) for r in models.values()]),
            max([2000] + [max(r["training"]["rolloff_hz"], r["output"]["rolloff_hz"]) for r in models.values()])]
    c.plot(lims, lims, color="k", lw=0.8, ls=":", label="output = training")
    c.set_xlabel("training class roll-off (Hz)"); c.set_ylabel("output roll-off (Hz)")
    c.set_title("bandwidth follows the training class?"); c.legend(fontsize=8)
    for ax in (a, b, c):
        ax.grid(alpha=0.3)
    return _save(fig, path)
