"""The main job of ``make demo``: MFCC and scattering of a built-in note, summarised and plotted."""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import librosa
import numpy as np

from .._checks import ParameterError, check_choice, check_int
from ..data.soundfont import GM8_CLASSES
from ..data.synthetic import synthetic_note
from .._files import claim_dir, write_text
from ..features import MFCC
from ..scattering.time import Scattering1D

__all__ = ["run_demo"]


def run_demo(out="runs/demo", *, instrument: str = "violin", pitch: int = 64, sr: int = 16000,
             duration: float = 2.0, J: int = 8, Q=(12, 1), seed: int = 0, verbose: bool = True, force: bool = False) -> dict:
    """Synthesize a note, compute its MFCC and time scattering, print a summary and plot both.

    Writes ``features.png`` and ``summary.json`` to ``out``; returns the summary.
    """
    from ..plot import figure_note_features  # matplotlib, only when a figure is drawn

    say = print if verbose else (lambda *a, **k: None)
    out = claim_dir(out, "demo-note", force=force)
    instrument = str(instrument).replace("_", " ")  # gm8:distorted_guitar on the command line
    label = GM8_CLASSES.index(check_choice("instrument", instrument, GM8_CLASSES))
    pitch = check_int("pitch", pitch, min=0, max=127)
    f0 = float(librosa.midi_to_hz(pitch))
    if f0 >= sr / 2:
        raise ParameterError(f"pitch={pitch} ({f0:.0f} Hz) is above the Nyquist frequency "
                             f"{sr / 2:.0f} Hz of sr={sr}")
    n = int(round(duration * sr))
    y = synthetic_note(jax.random.key(seed), label, pitch, 90, sr=sr, duration=duration,
                       hold=0.75 * duration)
    y = jnp.asarray(y, jnp.float32)[:n]
    say(f"note: synthetic {instrument}, MIDI {pitch} ({f0:.1f} Hz), "
        f"{duration:.1f} s at {sr} Hz")

    mfcc_t = MFCC(sr=sr, n_mfcc=20, n_fft=1024, hop_length=256, n_mels=64)
    S = Scattering1D(J=J, shape=n, Q=Q)
    timings = {}
    for name, f in (("mfcc", mfcc_t), ("scattering", S)):
        g = jax.jit(f)
        t0 = time.perf_counter(); g(y).block_until_ready(); compile_s = time.perf_counter() - t0
        t0 = time.perf_counter(); r = g(y).block_until_ready(); run_s = time.perf_counter() - t0
        timings[name] = (compile_s, run_s, r)
    M, Sx = timings["mfcc"][2], timings["scattering"][2]
    meta = S.meta()
    counts = {int(o): int(np.sum(meta["order"] == o)) for o in np.unique(meta["order"])}
    # energy of the subsampled coefficients times the stride: comparable with ||y||**2
    stride = n / Sx.shape[-1]
    energy = {o: float(jnp.sum(Sx[meta["order"] == o] ** 2) * stride) for o in counts}
    summary = {
        "note": {"instrument": instrument, "midi": pitch, "sr": sr, "seconds": duration},
        "mfcc": {"shape": list(M.shape), "compile_s": timings["mfcc"][0], "run_s": timings["mfcc"][1]},
        "scattering": {
            "J": J, "Q": list(S.Q), "shape": list(Sx.shape), "paths_per_order": counts,
            "energy_per_order": energy, "compile_s": timings["scattering"][0],
            "run_s": timings["scattering"][1],
        },
        "signal_energy": float(jnp.sum(y**2)),
    }
    say(f"MFCC: {M.shape[0]} coefficients x {M.shape[1]} frames "
        f"(compile {timings['mfcc'][0]:.2f} s, run {timings['mfcc'][1] * 1e3:.1f} ms)")
    say(f"scattering J={J} Q={tuple(S.Q)}: {Sx.shape[0]} paths {counts} x {Sx.shape[1]} frames "
        f"(compile {timings['scattering'][0]:.2f} s, run {timings['scattering'][1] * 1e3:.1f} ms)")
    say("energy by order (x stride): " + ", ".join(f"{o}: {e:.3g}" for o, e in energy.items())
        + f"  (signal: {summary['signal_energy']:.3g})")
    fig = figure_note_features(np.asarray(y), sr, M, Sx, meta, out / "features.png",
                               title=f"synthetic {instrument}, MIDI {pitch}")
    write_text(out / "summary.json", json.dumps(summary, indent=2))
    say(f"wrote {fig} and {out / 'summary.json'}")
    return summary
