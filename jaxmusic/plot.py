"""Matplotlib figures. Imported lazily: nothing here runs unless a figure is asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["figure_note_features", "figure_training_curves", "figure_confusion", "figure_recognition"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    """Lay out, write (creating the folder) and close a figure; returns its path."""
    plt = _pyplot()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figure_note_features(y, sr, mfcc, scat, meta, path, *, title=""):
    """Waveform, MFCC and first/second-order scattering of one note, saved to ``path``.

    Parameters
    ----------
    y : array (n,)
    sr : int
    mfcc : array (n_mfcc, frames)
    scat : array (n_paths, frames) of `Scattering1D`
    meta : dict from ``Scattering1D.meta()``
    path : str or Path (PNG)
    """
    plt = _pyplot()
    y, mfcc, scat = np.asarray(y), np.asarray(mfcc), np.asarray(scat)
    order = np.asarray(meta["order"])
    fig, ax = plt.subplots(4, 1, figsize=(9, 11), constrained_layout=True)
    t = np.arange(len(y)) / sr
    ax[0].plot(t, y, lw=0.5)
    ax[0].set(xlabel="time (s)", ylabel="amplitude", title=title or "waveform", xlim=(0, t[-1]))
    dur = len(y) / sr
    im = ax[1].imshow(mfcc[1:], aspect="auto", origin="lower", extent=(0, dur, 1, mfcc.shape[0]),
                      cmap="magma")
    ax[1].set(title="MFCC (coefficients 1 and up; c0, the log energy, would dominate the scale)",
              xlabel="time (s)", ylabel="coefficient")
    fig.colorbar(im, ax=ax[1])
    s1 = scat[order == 1]
    xi1 = np.asarray(meta["xi"])[order == 1, 0] * sr
    im = ax[2].imshow(np.log1p(s1 / (s1.max() + 1e-12) * 1e3), aspect="auto", origin="upper",
                      extent=(0, dur, s1.shape[0], 0), cmap="magma")
    ticks = np.linspace(0, s1.shape[0] - 1, 6).astype(int)
    ax[2].set_yticks(ticks + 0.5, [f"{xi1[i]:.0f}" for i in ticks])
    ax[2].set(title="first-order scattering  |x * psi1| * phi  (log scale)", xlabel="time (s)",
              ylabel="wavelet centre (Hz)")
    s2 = scat[order == 2]
    if len(s2):
        im = ax[3].imshow(np.log1p(s2 / (s2.max() + 1e-12) * 1e3), aspect="auto", origin="upper",
                          extent=(0, dur, s2.shape[0], 0), cmap="magma")
        ax[3].set(title="second-order scattering  ||x * psi1| * psi2| * phi  (paths by (n1, n2))",
                  xlabel="time (s)", ylabel="path")
    else:
        ax[3].axis("off")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figure_training_curves(history, path, *, title="", best_step=None):
    """Training loss and accuracy, with validation error when recorded, against steps
    (the loss alone for a history without accuracy, from `jaxmusic.train.minimize`).

    Parameters
    ----------
    history : list of dict
        `jaxmusic.train.fit`'s history (``step``, ``train_loss``, ``train_accuracy``,
        optional ``val_error``).
    path : str or path-like
        Where to save the PNG.
    title : str
    best_step : int, optional
        Marked with a vertical line (the kept parameters).

    Returns
    -------
    Path
    """
    plt = _pyplot()
    steps = [h["step"] for h in history]
    classify = any("train_accuracy" in h for h in history)
    fig, axes = plt.subplots(1, 2 if classify else 1, figsize=(10, 3.6) if classify else (5.5, 3.6), squeeze=False)
    a = axes[0, 0]
    a.plot(steps, [h["train_loss"] for h in history], label="train")
    if any("val_loss" in h for h in history):
        a.plot(steps, [h.get("val_loss", np.nan) for h in history], label="validation")
    a.set_xlabel("step"); a.set_ylabel("cross-entropy" if classify else "loss"); a.set_yscale("log"); a.legend()
    if not classify:  # `jaxmusic.train.minimize`: the loss alone
        if best_step is not None:
            a.axvline(best_step, color="k", ls=":", lw=1)
        a.grid(alpha=0.3)
        fig.suptitle(title)
        return _save(fig, path)
    b = axes[0, 1]
    b.plot(steps, [100 - h["train_accuracy"] for h in history], label="train error (accuracy)")
    if any("val_error" in h for h in history):
        b.plot(steps, [h.get("val_error", np.nan) for h in history], label="validation error (1 - mean recall)")
    b.set_xlabel("step"); b.set_ylabel("error (%)"); b.legend()
    for ax in (a, b):
        if best_step is not None:
            ax.axvline(best_step, color="k", ls=":", lw=1)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def figure_confusion(confusion, classes, path, *, title=""):
    """A confusion matrix, rows normalised to recall (true class) with counts in each cell.

    Parameters
    ----------
    confusion : (n_classes, n_classes) array
        Rows: true class; columns: predicted class.
    classes : sequence of str
    path : str or path-like
    title : str

    Returns
    -------
    Path
    """
    plt = _pyplot()
    c = np.asarray(confusion, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = c / c.sum(axis=1, keepdims=True)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * n, 0.8 + 0.7 * n))
    im = ax.imshow(np.nan_to_num(r), vmin=0, vmax=1, cmap="Blues")
    for i in range(n):
        for j in range(n):
            if c[i, j]:
                ax.text(j, i, f"{int(c[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if r[i, j] > 0.6 else "black")
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted"); ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, fraction=0.046, label="recall")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def figure_recognition(rows, path, *, title="", seed_results=()):
    """The recognition table as bars: error per pipeline, best first, one colour per representation.

    Parameters
    ----------
    rows : list of dict
        ``results.json``'s rows (``features``, ``model``, ``error``, ``errors``).
    path : str or path-like
    title : str
    seed_results : sequence of (features, model, error, source)
        The seed's numbers, drawn as a separate panel (on the seed's data, not ours).

    Returns
    -------
    Path
    """
    plt = _pyplot()
    rows = sorted(rows, key=lambda r: r["error"])
    feats = list(dict.fromkeys(r["features"] for r in rows))
    colour = {f: f"C{i}" for i, f in enumerate(feats)}
    n = len(rows)
    panels = 2 if seed_results else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 1.2 + 0.28 * max(n, len(seed_results))),
                             squeeze=False)
    ax = axes[0, 0]
    ys = np.arange(n)[::-1]
    ax.barh(ys, [r["error"] for r in rows], color=[colour[r["features"]] for r in rows])
    for y, r in zip(ys, rows):
        folds = list(r.get("errors", {}).values())
        if len(folds) > 1:
            ax.plot(folds, [y] * len(folds), "k|", ms=8)
        ax.text(max([r["error"]] + folds) + 1.0, y, f"{r['error']:.1f}", va="center", fontsize=7)
    ax.set_yticks(ys, [f"{r['features']} + {r['model']}" for r in rows], fontsize=7)
    ax.set_xlabel("error = 1 - mean per-class recall (%)   | : per fold")
    ax.set_title(f"jaxmusic: {title}", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    if seed_results:
        b = axes[0, 1]
        ys2 = np.arange(len(seed_results))[::-1]
        b.barh(ys2, [e for _, _, e, _ in seed_results], color="0.6")
        for y, (_, _, e, _) in zip(ys2, seed_results):
            b.text(e + 0.5, y, f"{e:.1f}", va="center", fontsize=7)
        b.set_yticks(ys2, [f"{f} + {m}" for f, m, _, _ in seed_results], fontsize=7)
        b.set_xlabel("error (%)")
        b.set_title("the seed's numbers, on its data (MedleyDB -> solosDB)", fontsize=9)
        b.grid(axis="x", alpha=0.3)
        lim = max(ax.get_xlim()[1], b.get_xlim()[1])
        ax.set_xlim(0, lim); b.set_xlim(0, lim)
    return _save(fig, path)
