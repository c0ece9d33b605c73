"""WaveNet autoencoder and universal music translation on the built-in notes: `run_translation`.

The seed ends on the NSynth WaveNet autoencoder and the Universal Music
Translation Network. This experiment trains both (the ``tiny`` preset, or any
`WaveNetConfig`) on two gm8 classes as domains and reports:

- **training**: the loss curves of both models (cross-entropy of the mu-law
  classes, nats per sample) and the domain classifier's accuracy on held-out
  codes (chance, 1 / n_domains, is the goal of the confusion term);
- **reconstruction** of held-out melodies of each domain (`pitch_test_notes`,
  random keys) by the autoencoder (its domain) and by the translator's own
  decoder: spectral convergence and log-spectral distance;
- **translation** of each domain's melodies to the other: the timbre-transfer
  issue's pitch test (`pitch_test`: share of notes whose pitch is lost, pYIN),
  beside the identity (the test's floor);
- **morphing**: the latent interpolation of a note of each domain at
  alpha = 0, 0.5, 1;
- **spectrograms** of inputs, reconstructions, translations and morphs.

Everything goes to ``out``: ``results.json``, ``results.md`` and the figures;
the models stay in ``out/models`` (a rerun reuses finished ones and resumes
interrupted ones).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .._checks import ParameterError
from .._files import claim_dir, write_json, write_text

__all__ = ["run_translation", "TRANSLATION_QUICK", "TRANSLATION_FULL"]

#: Sizes of the quick run and of the full one (tiny preset, 8 kHz).
TRANSLATION_QUICK = dict(steps=60, n_files=1, n_notes=4, domains=("trumpet", "flute"))
TRANSLATION_FULL = dict(steps=1000, n_files=2, n_notes=10, domains=("trumpet", "flute"))


def _model(folder, train, *, steps, seed):
    from ..synthesis.wavenet import load_wavenet

    folder = Path(folder)
    if (folder / "model").is_dir() and (folder / "wavenet.json").is_file():
        wm = load_wavenet(folder)
        if wm.info.get("complete") and wm.info.get("steps") == steps and wm.info.get("seed") == seed:
            return wm
    return train()


def _figure_training(histories: dict, path, *, chance: float):
    from ..plot import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for name, h in histories.items():
        steps = [e["step"] for e in h]
        axes[0].plot(steps, [e["train_loss"] for e in h], label=f"{name}, train")
        if h and "val_loss" in h[0]:
            axes[0].plot(steps, [e["val_loss"] for e in h], "--", label=f"{name}, validation")
        if h and "val_domain_accuracy" in h[0]:
            axes[1].plot(steps, [e["val_domain_accuracy"] for e in h], label=f"{name}: domain classifier")
    axes[0].set(xlabel="step", ylabel="cross-entropy (nats / sample)", title="reconstruction loss")
    axes[0].legend(fontsize=8)
    axes[1].axhline(100 * chance, color="k", lw=0.8, ls=":", label="chance")
    axes[1].set(xlabel="step", ylabel="accuracy on held-out codes (%)", ylim=(0, 100),
                title="domain confusion (lower = codes more domain-free)")
    axes[1].legend(fontsize=8)
    return _save(fig, path)


def run_translation(out, *, quick: bool = False, domains: Sequence[str] | None = None, steps: int | None = None,
                    n_files: int | None = None, n_notes: int | None = None, preset: str = "tiny", config=None,
                    seed: int = 0, progress: bool = True, force: bool = False) -> dict:
    """Train a WaveNet autoencoder and a translator on gm8 classes; reconstruct, translate, morph, evaluate.

    Parameters
    ----------
    out : str or path-like
        Results folder.
    quick : bool
        `TRANSLATION_QUICK` sizes (60 steps, one 4-note melody per domain) instead
        of `TRANSLATION_FULL` (1000 steps, two 10-note melodies per domain).
    domains : sequence of str, optional
        Two or more gm8 classes (default trumpet and flute); the autoencoder
        trains on the first.
    steps, n_files, n_notes : int, optional
        Override the sizes.
    preset, config
        The architecture (`jaxmusic.models.WAVENET_PRESETS` name, or a `WaveNetConfig`).
    seed : int
    progress : bool

    Returns
    -------
    dict
        ``training``, ``reconstruction``, ``pitch_test``, ``settings``.
    """
    from ..data import gm8
    from ..data.soundfont import GM8_CLASSES
    from ..models.wavenet import wavenet_config
    from ..plot import figure_pitch_test, figure_spectrograms
    from ..synthesis.evaluate import log_spectral_distance, pitch_test, pitch_test_notes, spectral_convergence
    from ..synthesis.wavenet import morph, reconstruct, train_translator, train_wavenet, translate

    t0 = time.perf_counter()
    sizes = dict(TRANSLATION_QUICK if quick else TRANSLATION_FULL)
    for k, v in (("domains", domains), ("steps", steps), ("n_files", n_files), ("n_notes", n_notes)):
        if v is not None:
            sizes[k] = tuple(v) if k == "domains" else int(v)
    doms = list(sizes["domains"])
    if len(doms) < 2 or len(set(doms)) != len(doms) or any(d not in GM8_CLASSES for d in doms):
        raise ParameterError(f"domains must be two or more distinct gm8 classes ({', '.join(GM8_CLASSES)}), got {doms}")
    cfg = config if config is not None else wavenet_config(preset)
    sr = cfg.sr
    out = claim_dir(out, "experiment-translation", force=force)
    train_steps = sizes["steps"]
    eval_every = 50 if train_steps >= 200 else 10  # fixed, so that a rerun with more steps resumes

    data = gm8(sr=sr, classes=doms, pitch_step=1)
    audio = np.asarray(data.audio)
    notes_of = {d: audio[data.label == data.classes.index(d)] for d in doms}
    common = dict(config=cfg, steps=train_steps, eval_every=eval_every, seed=seed, progress=progress)
    ae = _model(out / "models" / "wavenet", lambda: train_wavenet(
        notes_of[doms[0]], out=out / "models" / "wavenet", **common), steps=train_steps, seed=seed)
    tr = _model(out / "models" / "translator", lambda: train_translator(
        {d: notes_of[d] for d in doms}, out=out / "models" / "translator", **common), steps=train_steps, seed=seed)

    import json

    histories = {}
    for name, folder in (("autoencoder", "wavenet"), ("translator", "translator")):
        f = out / "models" / folder / "metrics.json"
        histories[name] = json.loads(f.read_text())["history"] if f.is_file() else []
    _figure_training(histories, out / "training.png", chance=1 / len(doms))

    # held-out material: random melodies of each domain (keys drawn anew, notes rendered alone)
    melodies = pitch_test_notes(n_files=sizes["n_files"], n_notes=sizes["n_notes"], classes=doms, sr=sr, seed=seed + 1)
    pyin = dict(frame_length=1024, hop_length=128) if sr <= 8000 else {}
    recon, outputs = {}, {}
    for rec in melodies:
        d = rec["class"]
        y = rec["audio"]
        rows = {"translator": reconstruct(tr, y, domain=d, seed=seed)}
        if d == doms[0]:
            rows["autoencoder"] = reconstruct(ae, y, seed=seed)
        for name, z in rows.items():
            r = recon.setdefault(f"{name}, {d}", {"spectral_convergence": [], "log_spectral_distance_db": []})
            r["spectral_convergence"].append(spectral_convergence(y, z, n_fft=512, hop_length=128))
            r["log_spectral_distance_db"].append(log_spectral_distance(y, z, n_fft=512, hop_length=128))
            outputs.setdefault((name, d), z)
    recon = {k: {m: float(np.mean(v)) for m, v in r.items()} for k, r in recon.items()}

    tests = {}
    for d in doms:
        mine = [r for r in melodies if r["class"] == d]
        other = doms[(doms.index(d) + 1) % len(doms)]
        tests[f"identity, {d}"] = pitch_test(lambda y, s: y, mine, sr=sr, progress=False, **pyin)
        made = []  # the translations, in the order of ``mine`` (pitch_test's order): the figures reuse the first

        def method(y, s, other=other, made=made):
            made.append(translate(tr, y, other, seed=seed))
            return made[-1]

        tests[f"translation {d} -> {other}"] = pitch_test(
            method, mine, sr=sr, progress=False, out=out / f"pitch-{d.replace(' ', '-')}-to-{other.replace(' ', '-')}",
            title=f"translation {d} -> {other}", **pyin)
        outputs[("translation", d)] = made[0]
    lost = {k: {"lost_share": float(v["lost_share"]), "n_notes": int(v["n_notes"])} for k, v in tests.items()}
    figure_pitch_test(tests[f"translation {doms[0]} -> {doms[1]}"], out / "pitch_test.png",
                      title=f"pitch test: {doms[0]} melodies translated to {doms[1]} (tiny preset)")

    # spectrograms: one melody per domain, its reconstructions and its translation
    for d in doms:
        y = next(r["audio"] for r in melodies if r["class"] == d)
        other = doms[(doms.index(d) + 1) % len(doms)]
        panels = {f"input ({d})": y, f"translator, {d} decoder (reconstruction)": outputs[("translator", d)]}
        if ("autoencoder", d) in outputs:
            panels[f"WaveNet autoencoder ({d})"] = outputs[("autoencoder", d)]
        panels[f"translated to {other}"] = outputs[("translation", d)]
        figure_spectrograms(panels, sr, out / f"spectrograms-{d.replace(' ', '-')}.png", n_fft=512, hop_length=128,
                            title=f"WaveNet models on a held-out {d} melody ({sr} Hz)")

    # morphing: a note of each domain, the autoencoder's latent interpolation
    a = next(r["audio"] for r in melodies if r["class"] == doms[0])[: sr]
    b = next(r["audio"] for r in melodies if r["class"] == doms[1])[: sr]
    morphs = {f"alpha = {al:g}": morph(ae, a, b, alpha=al, seed=seed) for al in (0.0, 0.5, 1.0)}
    figure_spectrograms({f"a ({doms[0]})": a, **morphs, f"b ({doms[1]})": b}, sr, out / "morph.png", n_fft=512,
                        hop_length=128, title="latent morph by the WaveNet autoencoder: (1 - alpha) E(a) + alpha E(b)")

    from ..audio import save
    from ..synthesis._common import fit_peak

    (out / "audio").mkdir(exist_ok=True)
    for (name, d), z in outputs.items():
        save(out / "audio" / f"{name}-{d.replace(' ', '-')}.wav", fit_peak(z, name=name), sr, overwrite=True)
    for k, z in morphs.items():
        save(out / "audio" / f"morph-{k.split()[-1]}.wav", fit_peak(z, name="morph"), sr, overwrite=True)

    results = {
        "training": {"autoencoder": {k: ae.info.get(k) for k in ("steps_taken", "train_loss", "val_loss", "seconds")},
                     "translator": {k: tr.info.get(k) for k in ("steps_taken", "train_loss", "val_loss",
                                                                "val_domain_accuracy", "seconds")}},
        "reconstruction": recon,
        "pitch_test": lost,
        "settings": {"domains": doms, "sr": sr, "config": cfg.to_json(), **{k: v for k, v in sizes.items() if k != "domains"},
                     "seed": seed, "seconds": time.perf_counter() - t0},
    }
    write_json(out / "results.json", results)
    lines = [f"# WaveNet autoencoder and music translator on gm8 ({', '.join(doms)}; {sr} Hz, {train_steps} steps)", "",
             "| model | train loss | validation loss | domain classifier |", "|---|---|---|---|"]
    for name, t in results["training"].items():
        acc = t.get("val_domain_accuracy")
        fmt = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"| {name} | {fmt(t['train_loss'])} | {fmt(t['val_loss'])} | {'' if acc is None else f'{acc:.1f} %'} |")
    lines += ["", "| reconstruction | spectral convergence | log-spectral distance (dB) |", "|---|---|---|"]
    lines += [f"| {k} | {v['spectral_convergence']:.3f} | {v['log_spectral_distance_db']:.2f} |" for k, v in recon.items()]
    lines += ["", "| pitch test | notes lost |", "|---|---|"]
    lines += [f"| {k} | {100 * v['lost_share']:.1f} % of {v['n_notes']} |" for k, v in lost.items()]
    write_text(out / "results.md", "\n".join(lines) + "\n")
    return results
