"""Matplotlib figures. Imported lazily: nothing here runs unless a figure is asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["figure_note_features", "figure_training_curves", "figure_confusion", "figure_recognition",
           "figure_spectrograms", "figure_pitch_test"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _write(fig, path) -> Path:
    """Write a figure atomically (a temporary name, then a rename), creating the folder,
    and close it. Callers check the path (`jaxmusic._files`): a run folder's own name,
    or an output the user asked for."""
    from ._files import atomic_path

    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format=path.suffix[1:] or "png")
    finally:
        plt.close(fig)
    return path


def _save(fig, path) -> Path:
    """Lay out, write (creating the folder) and close a figure; returns its path."""
    # leave room for a figure title above the first row of panels
    fig.tight_layout(rect=(0, 0, 1, 0.97) if fig._suptitle is not None else None)
    return _write(fig, path)


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
    return _write(fig, path)


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
        The seed's numbers, drawn as a separate panel (on the seed's data, not ours);
        left empty for a user's own data.

    Returns
    -------
    Path
    """
    plt = _pyplot()
    rows = sorted(rows, key=lambda r: r["error"])
    # one fixed colour per representation, the same in every run's figure
    known = ("mfcc", "scattering", "jtfs", "spiral", "cqt")
    feats = list(dict.fromkeys(r["features"] for r in rows))
    colour = {f: f"C{known.index(f)}" if f in known else f"C{len(known) + i}" for i, f in enumerate(feats)}
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
    names = {"mfcc": "MFCC", "scattering": "time scattering", "jtfs": "joint (JTFS)", "spiral": "spiral scattering",
             "cqt": "CQT (ConvNets)"}
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=colour[f], label=names.get(f, f)) for f in feats], fontsize=7,
              loc="lower right", title="representation", title_fontsize=7)
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


def figure_spectrograms(signals, sr, path, *, title="", n_fft=2048, hop_length=512, floor_db=-80.0, fmin=40.0):
    """Log-magnitude spectrograms of named signals, one panel each, on shared scales.

    The figure written beside every hybrid's output (``input``, ``target``,
    ``output``, or one panel per method): every panel has the same colour scale
    (dB relative to the loudest bin of all the signals, down to ``floor_db``) and
    the same logarithmic frequency axis (from ``fmin`` to ``sr / 2``: partials are
    spread as the ear hears them, not squeezed into the bottom of the panel); each
    panel's time axis spans its own signal (a shorter sound is not padded with
    blank time).

    Parameters
    ----------
    signals : dict of str -> array (samples,)
        Panels from top to bottom, titled by their names.
    sr : int
        Sampling rate of every signal.
    path : str or path-like
        Where to save the PNG.
    title : str
    n_fft, hop_length : int
        STFT frame and hop (`jaxmusic.fourier.stft`).
    floor_db : float
        Bottom of the colour scale, in dB below the loudest bin.
    fmin : float
        Bottom of the frequency axis, in Hz.

    Returns
    -------
    Path
    """
    from ._checks import ParameterError
    from .fourier import stft

    if not isinstance(signals, dict) or not signals:
        raise ParameterError("signals must be a non-empty dict of name -> signal (samples,)")
    plt = _pyplot()
    mags = {}
    for name, y in signals.items():
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2:
            y = y.mean(axis=0)
        if y.ndim != 1 or len(y) == 0:
            raise ParameterError(f"signals[{name!r}] must be a non-empty signal (samples,), got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ParameterError(f"signals[{name!r}] holds NaN or inf samples")
        mags[name] = (np.abs(np.asarray(stft(y, n_fft=n_fft, hop_length=hop_length))), len(y))
    top = max(float(m.max()) for m, _ in mags.values())
    ref = top if top > 0 else 1.0
    k = len(mags)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    lo = min(max(float(fmin), freqs[1]), sr / 4)
    band = freqs >= freqs[max(1, int(np.searchsorted(freqs, lo)) - 1)]  # from the bin at or below fmin
    edges_f = np.concatenate([[freqs[band][0]], (freqs[band][1:] + freqs[band][:-1]) / 2, [sr / 2]])
    fig, axes = plt.subplots(k, 1, figsize=(9, 1.0 + 2.3 * k), sharey=True, squeeze=False)
    for ax, (name, (m, n)) in zip(axes[:, 0], mags.items()):
        db = 20 * np.log10(np.maximum(m[band], ref * 10 ** (floor_db / 20)) / ref)
        edges_t = (np.arange(m.shape[1] + 1) - 0.5) * hop_length / sr
        im = ax.pcolormesh(edges_t, edges_f, db, cmap="magma", vmin=floor_db, vmax=0, shading="flat",
                           rasterized=True)
        ax.set_yscale("log")
        ax.set_ylim(lo, sr / 2)
        ax.set_xlim(0, n / sr)
        ax.set_title(f"{name}  ({n / sr:.2f} s)", fontsize=9)
        ax.set_ylabel("frequency (Hz)")
        fig.colorbar(im, ax=ax, label="dB re. loudest", fraction=0.04, pad=0.01)
        ax.set_xlabel("time (s)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def figure_pitch_test(result, path, *, title=""):
    """The pitch test: share of notes that lost their pitch per class, and one melody's f0.

    Left: per class, the share of notes lost, stacked by why (wrong pitch,
    octave error, output unvoiced), with the overall share and the tolerance
    in the title. Right (when ``result`` has an ``example``, as `pitch_test`'s
    does): the input's and the output's pYIN f0 over one melody, on a MIDI
    scale, with each note's key drawn as a segment (red where the note was
    lost).

    Parameters
    ----------
    result : dict
        `jaxmusic.synthesis.evaluate.pitch_test`'s (or ``pitch_preservation``'s,
        with ``per_class``) result.
    path : str or path-like
    title : str

    Returns
    -------
    Path
    """
    plt = _pyplot()
    per = result.get("per_class") or {"all": {k: result[k] for k in ("lost_share", "n_notes")}}
    ex = result.get("example")
    fig, axes = plt.subplots(1, 2 if ex else 1, figsize=(13 if ex else 6, 4.6), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.6]} if ex else None)
    ax = axes[0, 0]
    names = list(per)
    ys = np.arange(len(names))[::-1]
    left = np.zeros(len(names))
    notes = result.get("notes") or []
    for reason, colour in (("pitch", "C3"), ("octave", "C1"), ("unvoiced", "0.6")):
        share = []
        for c in names:
            scored = [q for q in notes if (q.get("class") == c or c == "all") and q.get("lost") is not None]
            share.append(100 * sum(q["reason"] == reason for q in scored) / len(scored) if scored else 0.0)
        ax.barh(ys, share, left=left, color=colour, label=reason if reason != "pitch" else "wrong pitch")
        left += np.asarray(share)
    if not notes:  # shares only
        left = np.array([100 * (per[c]["lost_share"] or 0) for c in names])
        ax.barh(ys, left, color="C3")
    for y, c, v in zip(ys, names, left):
        ax.text(v + 1, y, f"{v:.0f}% of {per[c]['n_notes']}", va="center", fontsize=7)
    ax.set_yticks(ys, names, fontsize=8)
    ax.set_xlim(0, 115)
    ax.set_xlabel("notes that lost their pitch (%)")
    share = result.get("lost_share")
    ax.set_title(f"lost: {100 * share:.1f}% of {result.get('n_notes')} notes "
                 f"(tolerance {result.get('tolerance_cents'):g} cents)" if share is not None else "lost",
                 fontsize=9)
    if notes:
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    if ex:
        b = axes[0, 1]
        t = np.asarray(ex["times"], dtype=float)

        def midi(v):
            f = np.array([np.nan if x is None else x for x in v], dtype=float)
            return 69 + 12 * np.log2(f / 440.0)

        sr = result.get("sr", 16000)
        for (s, e), k, lost in zip(ex["boundaries"], ex["keys"], ex.get("lost") or [None] * len(ex["keys"])):
            b.plot([s / sr, e / sr], [k, k], color="C3" if lost else "0.75", lw=6, alpha=0.5,
                   solid_capstyle="butt")
        b.plot(t, midi(ex["f0_in"]), ".", ms=3, color="C0", label="input f0")
        b.plot(t, midi(ex["f0_out"]), ".", ms=3, color="C1", label="output f0")
        b.plot([], [], color="0.75", lw=6, alpha=0.5, label="key (red: lost)")
        b.set_xlabel("time (s)"); b.set_ylabel("pitch (MIDI)")
        b.set_title(f"{ex['class']}, melody {ex['file']} (pYIN, voiced frames)", fontsize=9)
        b.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
        b.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
