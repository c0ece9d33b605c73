"""Time vs joint time-frequency vs spiral scattering of an up-chirp, a down-chirp and a harmonic note.

    python examples/chirps_and_spirals.py [--out runs/chirps]

Time scattering cannot tell an up-chirp from its time reversal (their first-order
coefficients are mirror images in time, their energies equal); joint scattering
can, through the spin of its frequential wavelets; spiral scattering adds the
octave: a harmonic note's partials line up across octaves. Writes
``chirps_and_spirals.png`` and prints the spin energies.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxmusic
from jaxmusic.scattering.jtfs import TimeFrequencyScattering

SR = 16000
N = 2**14


def signals():
    t = np.arange(N) / SR
    dur = N / SR
    f0, f1 = 200.0, 3200.0  # four octaves, exponential sweep
    k = np.log(f1 / f0) / dur
    up = np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k) * np.hanning(N)
    down = up[::-1].copy()
    note = sum(np.sin(2 * np.pi * 220.0 * h * t) / h for h in range(1, 13)) * np.hanning(N)
    x = np.stack([up, down, note]).astype(np.float32)
    return ["up-chirp", "down-chirp", "harmonic note (A3)"], x / np.abs(x).max(axis=1, keepdims=True)


def spin_energy(S, meta, key):
    """Energy of the second-order paths of spin +1 and -1 (``meta[key]``), per signal.

    Order 1 of joint scattering has frequential wavelets on the time-averaged
    scalogram in one spin only (the other is its complex conjugate), so only
    order 2, where a time wavelet sets a direction, is compared."""
    spins = np.where(np.asarray(meta["order"]) == 2, np.asarray(meta[key], float), np.nan)
    S = np.asarray(S)
    return {s: np.sum(S[:, spins == s] ** 2, axis=(1, 2)) for s in (1.0, -1.0)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/chirps")
    a = p.parse_args(argv)
    names, x = signals()
    x = jnp.asarray(x)

    S1 = jaxmusic.Scattering1D(J=8, shape=N, Q=(8, 1))
    JT = TimeFrequencyScattering(J=8, J_fr=3, shape=N, Q=(8, 1))
    SP = jaxmusic.SpiralScattering(J=8, shape=N, Q=12)
    s_time, s_joint, s_spiral = (jax.jit(T)(x) for T in (S1, JT, SP))
    m_time, m_joint, m_spiral = S1.meta(), JT.meta(), SP.meta()

    order1 = m_time["order"] == 1
    e_time = np.sum(np.asarray(s_time)[:, order1] ** 2, axis=(1, 2))
    jt = spin_energy(s_joint, m_joint, "spin")
    ch = spin_energy(s_spiral, m_spiral, "chroma_spin")
    oc = spin_energy(s_spiral, m_spiral, "octave_spin")
    print(f"{'':20s} {'time S1 energy':>15s} {'JTFS up/down':>13s} {'chroma up/down':>15s} {'octave up/down':>15s}")
    for i, name in enumerate(names):
        print(f"{name:20s} {e_time[i]:15.4g} {jt[1.0][i] / jt[-1.0][i]:13.3f} "
              f"{ch[1.0][i] / ch[-1.0][i]:15.3f} {oc[1.0][i] / oc[-1.0][i]:15.3f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(3, 3, figsize=(13, 9), constrained_layout=True)
    for i, name in enumerate(names):
        s1 = np.asarray(s_time[i])[order1]
        ax[i, 0].imshow(np.log1p(1e3 * s1 / s1.max()), aspect="auto", cmap="magma",
                        extent=(0, N / SR, s1.shape[0], 0))
        ax[i, 0].set(title=f"{name}: time scattering, order 1", xlabel="time (s)",
                     ylabel="wavelet (high to low)")
        ax[i, 1].bar(["spin +1 (up)", "spin -1 (down)"], [jt[1.0][i], jt[-1.0][i]],
                     color=["tab:red", "tab:blue"])
        ax[i, 1].set(title=f"{name}: joint scattering", ylabel="energy")
        pos = np.arange(2)
        ax[i, 2].bar(pos - 0.2, [ch[1.0][i], ch[-1.0][i]], 0.4, color="tab:purple", label="chroma")
        ax[i, 2].bar(pos + 0.2, [oc[1.0][i], oc[-1.0][i]], 0.4, color="tab:green", label="octave")
        ax[i, 2].set_xticks(pos, ["spin +1 (up)", "spin -1 (down)"])
        ax[i, 2].set(title=f"{name}: spiral scattering", ylabel="energy")
        ax[i, 2].legend()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.suptitle("Up- and down-chirps look alike to time scattering; joint and spiral spins tell them apart")
    fig.savefig(out / "chirps_and_spirals.png", dpi=100)
    print(f"wrote {out / 'chirps_and_spirals.png'}")


if __name__ == "__main__":
    main()
