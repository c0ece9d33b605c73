"""Spiral scattering of a harmonic note: the figure of ``docs/spiral_note.png``.

    .venv/bin/python examples/spiral_figure.py [--out runs/spiral_note.png]

(``--out docs/spiral_note.png --force`` regenerates the README's figure.)

The note follows the source-filter model of Lostanlen & Mallat (DAFx 2015): a flat comb
of harmonics (the source) whose pitch glides up a fifth and then holds with a vibrato,
through a fixed spectral envelope of two formants (the filter). The figure shows

* the first-order coefficients rolled up on the pitch spiral (angle: chroma, radius:
  octave): harmonics an octave apart line up along a ray;
* the second-order spiral coefficients on the (octave, chroma) lattice for the chroma
  filters {low-pass, wavelet spin up, spin down} x the octave filters {low-pass, spin up,
  spin down}, summed over time and time scales;
* the energy of the up and down chroma spins over time: the glide lights up spin +1,
  the vibrato alternates.

Runs in about half a minute on a laptop CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxmusic.scattering.spiral import SpiralScattering  # noqa: E402

SR = 16000
N = 2**15
J, Q = 11, 12


def harmonic_note(n: int = N, sr: int = SR) -> np.ndarray:
    """Source (flat comb, glide 220 -> 330 Hz then vibrato) x filter (formants 700 and
    2200 Hz), with an attack and a slow decay; unit RMS, float32."""
    t = np.arange(n) / sr
    glide = np.clip(t / 0.6, 0, 1)
    semitones = 7 * glide + 0.4 * np.sin(2 * np.pi * 5.5 * t) * (t > 0.8)
    f0 = 220.0 * 2 ** (semitones / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = np.zeros(n)
    for p in range(1, 40):
        f = p * f0
        envelope = (np.exp(-np.log2(f / 700) ** 2 / (2 * 0.4**2))
                    + 0.5 * np.exp(-np.log2(f / 2200) ** 2 / (2 * 0.4**2)) + 0.05)
        x += envelope * (f < 0.45 * sr) * np.cos(p * phase)
    x *= np.minimum(1, t / 0.03) * np.exp(-t / 1.5) * np.minimum(1, (t[-1] - t) / 0.05)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


def main(out: str = "runs/spiral_note.png", *, force: bool = False) -> Path:
    S = SpiralScattering(J=J, shape=N, Q=Q)
    x = harmonic_note()
    Sx = np.asarray(jax.jit(S)(jnp.asarray(x)), np.float64)
    m = S.meta()
    plan = S._plan
    L, n_oct = plan.L, S.n_octaves

    fig = plt.figure(figsize=(14, 8.5), constrained_layout=True)
    grid = fig.add_gridspec(3, 5, width_ratios=[1.6, 1, 1, 1, 0.08], height_ratios=[1, 1, 1])

    # -- first order on the spiral
    ax = fig.add_subplot(grid[0:2, 0], projection="polar")
    o1 = (m["order"] == 1) & np.isfinite(m["gamma"])
    g = m["gamma"][o1]
    energy = 10 * np.log10((Sx[o1] ** 2).mean(-1) + 1e-12)
    theta = 2 * np.pi * (g % Q) / Q
    radius = g / Q + 1
    sc = ax.scatter(theta, radius, c=np.maximum(energy, energy.max() - 50), s=40, cmap="magma")
    ax.plot(2 * np.pi * np.arange(L) / Q, np.arange(L) / Q + 1, color="0.8", lw=0.5, zorder=0)
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(-1)
    ax.set_xticks(2 * np.pi * np.arange(Q) / Q, [str(c) for c in range(Q)])
    ax.set_yticks(np.arange(1, n_oct + 1), [f"{m['xi'][o1][g == o * Q][0, 0] * SR:.0f} Hz"
                                            if np.any(g == o * Q) else "" for o in range(n_oct)],
                  fontsize=7)
    ax.set_title("first order on the pitch spiral\n(angle: chroma bin, radius: octave; dB)")
    fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.1)

    # -- second order: (chroma filter) x (octave filter) on the lattice
    o2 = m["order"] == 2
    jc = 1  # chroma wavelet scale shown (xi = 0.175 cycles per bin)
    rows = [("chroma low-pass", m["chroma_spin"] == 0),
            ("chroma wavelet, spin +1 (up)", (m["chroma_spin"] == 1) & (m["chroma_j"] == jc)),
            ("chroma wavelet, spin -1 (down)", (m["chroma_spin"] == -1) & (m["chroma_j"] == jc))]
    cols = [("octave low-pass", 0), ("octave spin +1", 1), ("octave spin -1", -1)]
    images = []
    for r, (rname, rsel) in enumerate(rows):
        for c, (cname, spin) in enumerate(cols):
            sel = o2 & rsel & (m["octave_spin"] == spin)
            img = np.zeros(L)
            np.add.at(img, m["gamma"][sel].astype(int), (Sx[sel] ** 2).sum(-1))
            images.append((r, c, rname, cname, img.reshape(n_oct, Q)))
    top = max(im.max() for *_, im in images)
    for r, c, rname, cname, im in images:
        ax = fig.add_subplot(grid[r, c + 1])
        h = ax.imshow(10 * np.log10(im / top + 1e-6), origin="lower", aspect="auto",
                      vmin=-50, vmax=0, cmap="magma")
        if r == 0:
            ax.set_title(cname, fontsize=9)
        if c == 0:
            ax.set_ylabel(f"{rname}\noctave", fontsize=8)
        if r == 2:
            ax.set_xlabel("chroma bin", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.colorbar(h, cax=fig.add_subplot(grid[:, 4]), label="second-order energy (dB)")

    # -- chroma spins over time
    ax = fig.add_subplot(grid[2, 0])
    t = (np.arange(Sx.shape[-1]) + 0.5) * 2**J / SR
    for spin, name in ((1, "chroma spin +1 (up)"), (-1, "chroma spin -1 (down)")):
        sel = o2 & (m["chroma_spin"] == spin) & (m["octave_spin"] == 0)
        ax.plot(t, (Sx[sel] ** 2).sum(0), label=name)
    ax.axvspan(0, 0.6, color="0.9", zorder=0, label="glide up a fifth")
    ax.set(xlabel="time (s)", ylabel="energy", title="glide, then vibrato")
    ax.legend(fontsize=7)

    fig.suptitle(f"Spiral scattering of a harmonic note (J={J}, Q={Q}, sr={SR} Hz, "
                 f"{n_oct} octaves, {S.n_padding} padding bins)")
    from jaxmusic._files import check_output_file
    from jaxmusic.plot import _write

    path = check_output_file(out, overwrite=force, what="the figure")
    return _write(fig, path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/spiral_note.png")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    args = parser.parse_args()
    print(main(args.out, force=args.force))
