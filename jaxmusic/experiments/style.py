r"""Style transfer by optimisation of the waveform (Gatys et al. 2016, for audio).

Gatys' recipe: a result ``x`` whose *content features* match those of a
content signal ``c`` and whose *style statistics* (statistics that forget
where things happen, such as Gram matrices of feature maps) match those of a
style signal ``s``,

.. math::

    L(x) = w_c \frac{\lVert F(x) - F(c) \rVert^2}{\lVert F(c) \rVert^2}
         + w_s \frac{\lVert G(x) - G(s) \rVert^2}{\lVert G(s) \rVert^2},

descended by gradient. The course notes that the recipe "fails on audio
spectrograms used as images" (Foote, Ulyanov, Geng 2016) because time and
frequency are not isotropic, and that Ulyanov's variant convolves over time
only, with frequency bins as channels. `style_transfer` runs four
representations side by side:

``"conv2d"``
    the log-magnitude STFT as an image through a fixed random 2-d ConvNet
    (three 3x3 layers, 32/64/64 channels, ReLU, 2x2 average pooling between
    them); style: Gram matrices of the three layers' maps; content: the last
    layer's maps.
``"conv1d"``
    Ulyanov 2016: one random 1-d convolution over time (width 11, 512 filters,
    the 513 frequency bins as input channels), ReLU; style: its Gram matrix
    over time; content: its maps.
``"scattering"``
    `Scattering1D`; style: the time average of log-compressed first- and
    second-order coefficients (spectral envelope and modulation spectrum);
    content: the log-compressed first-order coefficients over time (a
    constant-Q spectrogram at resolution ``T = 2**J``).
``"jtfs"``
    `TimeFrequencyScattering`; style: the time average of its log-compressed
    coefficients (adding joint spectro-temporal modulations); content: as
    ``"scattering"``.

The waveform itself is optimised, through jaxmusic's differentiable STFT and
scattering: no phase reconstruction (Griffin-Lim) is needed and the result is
consistent by construction (a spectrogram optimised as an image need not be
the spectrogram of any signal). The run starts from the content signal.

Measured by `run_style` (a gm8 clarinet melody D4 F4 A4 G4 in the style of a
gm8 violin playing G4 B4 D5 G5, 1 s each at 16 kHz; 200 L-BFGS steps, style
weight 10, ``J=8``, ``Q=8``), with two representation-neutral numbers from
`timbre_metrics` (``timbre``: MFCC distance of the result to the style over
the content's, 1 = the clarinet's timbre, 0 = the violin's; ``change``:
relative change of the log-mel spectrogram from the content):

==========  ==============  ==============  =======  ======  ======
rep.        loss            style term      content  timbre  change
==========  ==============  ==============  =======  ======  ======
conv2d      0.84 -> 0.046   0.84 -> 0.010   0.036    1.09    0.38
conv1d      5.9 -> 1.02     5.9 -> 0.53     0.49     0.33    0.97
scattering  2.8 -> 0.38     2.8 -> 0.18     0.20     0.23    0.86
jtfs        0.32 -> 0.076   0.32 -> 0.036   0.040    0.75    0.53
==========  ==============  ==============  =======  ======  ======

As the course says, the 2-d ConvNet on the spectrogram "fails": its Gram
matrices are matched with little change to the signal and the timbre does
not move toward the violin's (it moves slightly away). Ulyanov's 1-d variant
moves the timbre most of the way but dissolves the melody into a texture.
Time-averaged scattering moves it furthest (0.23), the onsets still visible
in the spectrogram; joint scattering changes the spectrogram least (0.53) of
the three that move the timbre. Losses of different representations are not
comparable with one another.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_choice, check_int, check_real
from .._files import as_run_dir, claim_dir, write_json
from .inversion import _peak_normalised, _spectrogram_panels, adam_stage, optimize

__all__ = ["style_transfer", "StyleTransfer", "run_style", "REPRESENTATIONS_STYLE", "STYLE_WEIGHTS"]

#: Representations of `style_transfer`.
REPRESENTATIONS_STYLE = ("conv2d", "conv1d", "scattering", "jtfs")

#: Default style weight per representation (content weight 1): 10 for each, not tuned per
#: representation (raise it to move further toward the style); see `style_transfer`.
STYLE_WEIGHTS = {"conv2d": 10.0, "conv1d": 10.0, "scattering": 10.0, "jtfs": 10.0}

#: STFT of the ConvNet representations (at 16 kHz: 64 ms frames, 16 ms hop).
N_FFT, HOP = 1024, 256
CONV2D_CHANNELS = (32, 64, 64)
CONV1D_FILTERS, CONV1D_WIDTH = 512, 11


# ------------------------------------------------------------------ features
def _log_stft(x, floor):
    from ..fourier import stft

    return jnp.log1p(jnp.abs(stft(x, n_fft=N_FFT, hop_length=HOP)) / floor)  # (513, frames)


def _gram(f):
    """Gram matrix of feature maps f (positions, channels), normalised by the positions."""
    return f.T @ f / f.shape[0]


def _init_conv2d(key):
    ws, c_in = [], 1
    for k, c in zip(jax.random.split(key, len(CONV2D_CHANNELS)), CONV2D_CHANNELS):
        ws.append(jax.random.normal(k, (3, 3, c_in, c), jnp.float32) * math.sqrt(2.0 / (9 * c_in)))
        c_in = c
    return tuple(ws)


def _conv2d_maps(ws, img):
    """Feature maps of the random 2-d ConvNet: a list of (positions, channels)."""
    h = img[None, :, :, None]  # NHWC: frequency x time image
    maps = []
    for i, w in enumerate(ws):
        h = jax.lax.conv_general_dilated(h, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        h = jax.nn.relu(h)
        maps.append(h.reshape(-1, h.shape[-1]))
        if i + 1 < len(ws):
            h = jax.lax.reduce_window(h, 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4.0
    return maps


def _init_conv1d(key, n_bins: int):
    w = jax.random.normal(key, (CONV1D_WIDTH, n_bins, CONV1D_FILTERS), jnp.float32)
    return w * math.sqrt(2.0 / (CONV1D_WIDTH * n_bins))


def _conv1d_maps(w, spec):
    """Ulyanov's random 1-d convolution over time: (frames, filters)."""
    h = spec.T[None]  # NWC: time x frequency channels
    h = jax.lax.conv_general_dilated(h, w, (1,), "SAME", dimension_numbers=("NWC", "WIO", "NWC"))
    return jax.nn.relu(h[0])


def _rel(a, b):
    return jnp.sum((a - b) ** 2) / jnp.sum(b**2)


class _Rep(NamedTuple):
    """A representation: ``content(params, x)``, ``style(params, x)`` features, the
    fixed parameters (nets, transforms) for the content length and for the style
    length (the transforms have a fixed signal length)."""

    content: Any
    style: Any
    params: Any
    params_style: Any


def _representation(name: str, key, n_content: int, n_style: int, *, J: int, Q: int) -> _Rep:
    """The content and style features of ``name``; ``floor`` (the third argument
    of both) is the log-compression floor, set from the content signal."""
    if name == "conv2d":
        ws = _init_conv2d(key)

        def content(p, x, floor):
            return _conv2d_maps(p, _log_stft(x, floor))[-1]

        def style(p, x, floor):
            return [_gram(f) for f in _conv2d_maps(p, _log_stft(x, floor))]

        return _Rep(content, style, ws, ws)
    if name == "conv1d":
        w = _init_conv1d(key, N_FFT // 2 + 1)

        def content(p, x, floor):
            return _conv1d_maps(p, _log_stft(x, floor))

        def style(p, x, floor):
            return [_gram(_conv1d_maps(p, _log_stft(x, floor)))]

        return _Rep(content, style, w, w)

    from ..scattering.jtfs import TimeFrequencyScattering
    from ..scattering.time import Scattering1D

    def first_order(S, x, floor):
        return jnp.log1p(jnp.abs(S(x)[_rows(S, 1)]) / floor)

    def averaged(S, x, floor):
        return [jnp.mean(jnp.log1p(jnp.abs(S(x)[_rows(S, 1, 2)]) / floor), axis=-1)]

    if name == "scattering":
        return _Rep(first_order, averaged, Scattering1D(J=J, shape=n_content, Q=Q),
                    Scattering1D(J=J, shape=n_style, Q=Q))
    return _Rep(lambda p, x, floor: first_order(p[0], x, floor),
                lambda p, x, floor: averaged(p[1], x, floor),
                (Scattering1D(J=J, shape=n_content, Q=Q),
                 TimeFrequencyScattering(J=J, J_fr=2, shape=n_content, Q=Q)),
                (None, TimeFrequencyScattering(J=J, J_fr=2, shape=n_style, Q=Q)))


def _rows(S, *orders) -> np.ndarray:
    """Rows of the transform's output of the given scattering orders (static)."""
    order = np.asarray(S.meta()["order"])
    return np.flatnonzero(np.isin(order, orders))


def _floor(name: str, rep: _Rep, c, floor_db: float) -> float:
    """Log-compression floor: ``floor_db`` below the content's loudest STFT bin or
    first-order coefficient."""
    from ..fourier import stft

    if name in ("conv2d", "conv1d"):
        top = jnp.max(jnp.abs(stft(c, n_fft=N_FFT, hop_length=HOP)))
    else:
        S = rep.params if name == "scattering" else rep.params[0]
        top = jnp.max(jnp.abs(S(c)[_rows(S, 1)]))
    return float(top) * 10 ** (floor_db / 20)


# ------------------------------------------------------------------ transfer
def _optimizer(optimizer, steps: int, learning_rate: float):
    if not isinstance(optimizer, str):
        return optimizer
    check_choice("optimizer", optimizer, ("lbfgs", "adam"))
    if optimizer == "adam":
        return adam_stage(steps, learning_rate=learning_rate)
    import optax

    return optax.lbfgs()


class StyleTransfer(NamedTuple):
    """What `style_transfer` returns.

    Attributes
    ----------
    audio : jax.Array, shape (n,)
        The result, as long as the content.
    loss, content_loss, style_loss : np.ndarray, shape (steps + 1,)
        The total loss and its two weighted terms after ``k`` steps.
    seconds : float
        Wall time of the steps, compilation included.
    """

    audio: jax.Array
    loss: np.ndarray
    content_loss: np.ndarray
    style_loss: np.ndarray
    seconds: float


def _check_audio(name: str, y, min_length: int, why: str) -> jax.Array:
    shape = getattr(y, "shape", None)
    if shape is None or getattr(y, "dtype", None) is None:
        raise ParameterError(f"{name} must be a signal array of shape (n,), got {type(y).__name__}")
    if len(shape) != 1:
        raise ParameterError(f"{name} must be one mono signal of shape (n,), got shape {tuple(shape)}")
    if np.dtype(y.dtype).kind != "f":
        raise ParameterError(f"{name} must be floating point audio, got dtype {y.dtype}")
    if shape[0] < min_length:
        raise ParameterError(f"{name} has {shape[0]} samples, shorter than {why} ({min_length} samples)")
    y = jnp.asarray(y, jnp.float32)
    if not bool(jnp.all(jnp.isfinite(y))):
        raise ParameterError(f"{name} has NaN or inf samples")
    if not bool(jnp.any(y != 0)):
        raise ParameterError(f"{name} is silent (all zeros)")
    return y


def style_transfer(key, content, style, *, representation: str = "scattering", steps: int = 300,
                   content_weight: float = 1.0, style_weight: float | None = None, optimizer="lbfgs",
                   learning_rate: float = 0.01, init: str = "content", floor_db: float = -40.0,
                   J: int = 8, Q: int = 8, chunk: int = 50, out=None, sr: int = 16000,
                   progress: bool = True) -> StyleTransfer:
    r"""Gatys-style transfer: the content of one signal in the style of another.

    Minimises ``content_weight * Lc + style_weight * Ls`` over the waveform,
    where ``Lc`` is the relative squared error of the content features and
    ``Ls`` the mean relative squared error of the style statistics (one term
    per Gram matrix or average), for the representation chosen (see the module
    docstring: a random 2-d ConvNet on the log spectrogram, Ulyanov's random
    1-d ConvNet over time, or time-averaged log scattering / joint scattering).
    Log compression is ``log1p(v / floor)`` with ``floor`` ``floor_db`` below
    the content's loudest STFT bin (ConvNets) or first-order coefficient
    (scattering).

    The signal is parametrised as ``x = sigma * u`` with ``sigma`` the content's
    root mean square, and descended ``chunk`` steps per compiled call. The
    default optimizer is L-BFGS (``optax.lbfgs``, zoom line search). Measured
    on `run_style`'s quick melodies (1 s, 60 steps, from the content), it ends
    lower than Adam (warm-up + cosine, peak 0.01): total loss 0.050 against
    0.106 with ``"conv2d"``, 0.62 against 0.91 with ``"scattering"``, and
    without the broadband floor that Adam's per-sample normalised steps add
    (about -50 dB re. the loudest bin, audible as hiss); each of its steps
    costs about twice an Adam step (line search).

    Parameters
    ----------
    key : PRNG key
        Draws the random ConvNet weights (and the starting noise with
        ``init="noise"``).
    content : array, shape (n,)
        The content signal; the result has its length. At least ``n_fft = 1024``
        samples for the ConvNets and ``2**J`` for scattering.
    style : array, shape (m,)
        The style signal, any length above the same minimum.
    representation : "conv2d", "conv1d", "scattering" or "jtfs"
    steps : int >= 1
    content_weight, style_weight : float >= 0
        Weights of the two relative errors; ``style_weight=None`` takes
        `STYLE_WEIGHTS` for the representation.
    optimizer : "lbfgs", "adam" or optax.GradientTransformation
        L-BFGS (default), Adam with a 25-step warm-up to ``learning_rate`` and a
        cosine decay, or any Optax optimizer (acting on ``u``).
    learning_rate : float > 0
        Peak learning rate of ``optimizer="adam"``, in units of the content's RMS.
    init : "content" or "noise"
        Start from the content signal (default) or from white noise (Gatys).
    floor_db : float <= 0
        Log-compression floor, in dB below the content's loudest bin or
        coefficient (-40: the quiet partials and the noise floor between them
        matter little; at -60 they dominate the style statistics).
    J, Q : int
        Scattering scale (``T = 2**J`` samples) and wavelets per octave.
    chunk : int >= 1
        Steps per compiled call.
    out : str or path-like, optional
        Folder for ``result.wav`` (peak-normalised), ``content.wav``,
        ``style.wav`` and ``style_transfer.png`` (spectrograms of content,
        style and result; loss curves).
    sr : int
        Sampling rate (audio files and figure axes).
    progress : bool

    Returns
    -------
    StyleTransfer
        ``audio`` (n,), ``loss``, ``content_loss``, ``style_loss`` (steps + 1,),
        ``seconds``.

    Raises
    ------
    ParameterError
        An unknown representation or init; content or style that is not one
        float signal, shorter than the minimum above, silent, or not finite;
        ``steps < 1``; negative weights.
    """
    check_choice("representation", representation, REPRESENTATIONS_STYLE)
    check_choice("init", init, ("content", "noise"))
    steps = check_int("steps", steps, min=1)
    J = check_int("J", J, min=1)
    Q = check_int("Q", Q, min=1)
    chunk = check_int("chunk", chunk, min=1)
    sr = check_int("sr", sr, min=1)
    cw = check_real("content_weight", content_weight, min=0.0)
    sw = STYLE_WEIGHTS[representation] if style_weight is None else style_weight
    sw = check_real("style_weight", sw, min=0.0)
    learning_rate = check_real("learning_rate", learning_rate, min=0.0, strict_min=True)
    opt = _optimizer(optimizer, steps, learning_rate)
    floor_db = check_real("floor_db", floor_db, max=0.0)
    conv = representation in ("conv2d", "conv1d")
    need, why = (N_FFT, f"the STFT frame n_fft={N_FFT}") if conv else \
        (2**J, f"the largest scattering wavelet 2**J with J={J}")
    c = _check_audio("content", content, need, why)
    s = _check_audio("style", style, need, why)
    k_net, k_init = jax.random.split(key)
    rep = _representation(representation, k_net, c.shape[0], s.shape[0], J=J, Q=Q)
    floor = _floor(representation, rep, c, floor_db)
    sigma = jnp.sqrt(jnp.mean(c**2))
    data = {
        "content": rep.content(rep.params, c, floor),
        "style": rep.style(rep.params_style, s, floor),
        "sigma": sigma,
        "floor": jnp.float32(floor),
    }

    def objective(u, p, d, stage):
        x = d["sigma"] * u
        lc = _rel(rep.content(p, x, d["floor"]), d["content"])
        g = rep.style(p, x, d["floor"])
        ls = sum(_rel(a, b) for a, b in zip(g, d["style"])) / len(g)
        loss = cw * lc + sw * ls
        return loss, jnp.stack([loss, cw * lc, sw * ls])

    u0 = c / sigma if init == "content" else jax.random.normal(k_init, c.shape, jnp.float32)
    u, hist, seconds = optimize(
        objective, u0, rep.params, data, steps=steps, stages=[(0, opt)],
        n_metrics=3, chunk=chunk, progress=progress, desc=f"style:{representation}",
        show=lambda m: f"loss={float(m[0]):.4f}")
    result = StyleTransfer(audio=(sigma * u).astype(jnp.float32), loss=hist[:, 0], content_loss=hist[:, 1],
                           style_loss=hist[:, 2], seconds=seconds)
    if out is not None:
        from ..audio import save

        out = as_run_dir(out, "style-transfer")
        for name, y in (("content", c), ("style", s), ("result", result.audio)):
            save(out / f"{name}.wav", _peak_normalised(y), sr, overwrite=True)
        _figure_style({"content": np.asarray(c), "style": np.asarray(s),
                       f"result ({representation})": np.asarray(result.audio)},
                      {representation: result}, sr, out / "style_transfer.png",
                      title=f"style transfer, {representation}")
    return result


# ------------------------------------------------------------------ figures
def _figure_style(signals: dict, results: dict, sr: int, path, *, title: str = "") -> Path:
    """Spectrograms of every signal (one colour scale), and the loss curves of each run."""
    from ..plot import _pyplot, _save

    plt = _pyplot()
    k = len(signals)
    fig, axes = plt.subplots(k + 1, 1, figsize=(9, 2.0 * k + 3.0),
                             gridspec_kw={"height_ratios": [1] * k + [1.4]})
    _spectrogram_panels(fig, list(axes[:k]), signals, sr, n_fft=N_FFT, hop_length=HOP)
    ax = axes[-1]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, r) in enumerate(results.items()):
        col = colours[i % len(colours)]
        steps = np.arange(len(r.loss))
        ax.semilogy(steps, r.content_loss + 1e-12, color=col, ls="--", lw=1, label=f"{name}: content")
        ax.semilogy(steps, r.style_loss + 1e-12, color=col, ls=":", lw=1, label=f"{name}: style")
        ax.semilogy(steps, r.loss, color=col, lw=1.5, label=f"{name}: total")
    top = max(float(np.max(r.loss)) for r in results.values())
    ax.set_ylim(bottom=top * 1e-3)  # the content term starts at 0 (the run starts from the content)
    ax.set(xlabel="step", ylabel="weighted loss", title="losses (relative squared errors, weighted)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=min(3, len(results)), loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


# ------------------------------------------------------------------ the experiment
#: What ``quick=True`` changes in `run_style`.
QUICK = dict(note_s=0.25, steps=60, J=7, representations=("conv2d", "conv1d", "scattering"))
FULL = dict(note_s=0.25, steps=200, J=8, representations=REPRESENTATIONS_STYLE)
#: The melodies of `run_style` (MIDI keys), content and style.
CONTENT_NOTES = ("clarinet", (62, 65, 69, 67))
STYLE_NOTES = ("violin", (67, 71, 74, 79))


def _melody(instrument: str, keys, note_s: float, sr: int) -> np.ndarray:
    """Notes of a gm8 instrument, one after another (``note_s`` seconds each)."""
    from ..data.soundfont import gm8

    keys = [int(k) for k in keys]
    ds = gm8(classes=(instrument,), velocities=(100,), ranges={instrument: (min(keys), max(keys))},
             pitch_step=1, sr=sr, duration=note_s, hold=0.8 * note_s)
    by_key = {int(p): a for p, a in zip(ds.pitch, ds.audio)}
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise ParameterError(f"gm8 renders {instrument} keys {missing} silent")
    return np.concatenate([np.asarray(by_key[k], np.float32) for k in keys])


def timbre_metrics(result, content, style, *, sr: int = 16000) -> dict:
    """Representation-neutral measures of a transfer.

    ``timbre_to_style``: distance of the result's time-averaged MFCC (1-19, no
    energy) to the style's, over the content's distance to the style (1: the
    content's timbre, 0: the style's). ``content_change``: relative distance of
    the result's log-mel spectrogram to the content's (0: unchanged).

    Parameters
    ----------
    result, content : arrays (n,); style : array (m,)
    sr : int

    Returns
    -------
    dict of float
    """
    from ..features import melspectrogram, mfcc, power_to_db

    def m(y):
        return np.asarray(mfcc(jnp.asarray(y, jnp.float32), sr=sr, n_mfcc=20, n_fft=N_FFT,
                               hop_length=HOP, n_mels=64))[1:].mean(axis=1)

    def logmel(y):
        return np.asarray(power_to_db(melspectrogram(jnp.asarray(y, jnp.float32), sr=sr, n_fft=N_FFT,
                                                     hop_length=HOP, n_mels=64), ref=1.0, top_db=80.0))

    mr, mc, ms = m(result), m(content), m(style)
    lr, lc = logmel(result), logmel(content)
    return {"timbre_to_style": float(np.linalg.norm(mr - ms) / max(np.linalg.norm(mc - ms), 1e-12)),
            "content_change": float(np.linalg.norm(lr - lc) / max(np.linalg.norm(lc - lc.mean()), 1e-12))}


def run_style(out="runs/style", *, quick: bool = False, sr: int = 16000, steps: int | None = None,
              representations=None, seed: int = 0, progress: bool = True, verbose: bool = True, force: bool = False) -> dict:
    """Style transfer between two built-in melodies with every representation.

    Content: a clarinet playing D4 F4 A4 G4; style: a violin playing G4 B4 D5
    G5 (gm8, TimGM6mb; a quarter of a second per note). Each
    representation of `style_transfer` runs from the content, with its default
    weights, and the results are compared by their own losses and by
    representation-neutral numbers (`timbre_metrics`: how far the MFCC timbre
    moved toward the style's, how much the log-mel spectrogram changed).

    Writes to ``out``: ``content.wav``, ``style.wav``, ``result_<representation>.wav``
    (peak-normalised), ``style_transfer.png`` (spectrograms of content, style
    and every result; loss curves) and ``style.json``.

    Parameters
    ----------
    out : str or path-like
    quick : bool
        60 steps instead of 200, ``J=7`` instead of 8, no joint scattering.
    sr : int
    steps : int, optional
        Override the number of steps.
    representations : sequence of str, optional
        Override which representations run.
    seed : int
        Seed of the random ConvNets.
    progress, verbose : bool

    Returns
    -------
    dict
        The contents of ``style.json``.
    """
    from ..audio import save

    cfg = dict(QUICK if quick else FULL)
    if steps is not None:
        cfg["steps"] = check_int("steps", steps, min=1)
    if representations is not None:
        for r in representations:
            check_choice("representations", r, REPRESENTATIONS_STYLE)
        cfg["representations"] = tuple(representations)
    say = print if verbose else (lambda *a, **k: None)
    out = claim_dir(out, "experiment-style", force=force)
    c = _melody(*CONTENT_NOTES, cfg["note_s"], sr)
    s = _melody(*STYLE_NOTES, cfg["note_s"], sr)
    save(out / "content.wav", _peak_normalised(c), sr, overwrite=True)
    save(out / "style.wav", _peak_normalised(s), sr)
    say(f"content: gm8 {CONTENT_NOTES[0]} {list(CONTENT_NOTES[1])}; style: gm8 {STYLE_NOTES[0]} "
        f"{list(STYLE_NOTES[1])}; {len(c) / sr:.2f} s each at {sr} Hz")
    key = jax.random.key(seed)
    results, runs, signals = {}, {}, {"content": c, "style": s}
    for rep in cfg["representations"]:
        r = style_transfer(key, jnp.asarray(c), jnp.asarray(s), representation=rep, steps=cfg["steps"],
                           J=cfg["J"], sr=sr, progress=progress)
        y = np.asarray(r.audio)
        save(out / f"result_{rep}.wav", _peak_normalised(y), sr, overwrite=True)
        runs[rep], signals[f"result: {rep}"] = r, y
        results[rep] = {
            "loss_start": float(r.loss[0]), "loss": float(r.loss[-1]),
            "content_loss": float(r.content_loss[-1]), "style_loss_start": float(r.style_loss[0]),
            "style_loss": float(r.style_loss[-1]), "style_weight": STYLE_WEIGHTS[rep],
            "seconds": r.seconds, "steps_per_s": cfg["steps"] / r.seconds,
            **timbre_metrics(y, c, s, sr=sr),
            "loss_curve": [float(v) for v in r.loss],
        }
        m = results[rep]
        say(f"{rep:10s} loss {m['loss_start']:.3f} -> {m['loss']:.3f} (style {m['style_loss_start']:.3f} -> "
            f"{m['style_loss']:.3f}, content {m['content_loss']:.3f}); timbre to style "
            f"{m['timbre_to_style']:.2f}, content change {m['content_change']:.2f}; "
            f"{m['steps_per_s']:.1f} steps/s with compilation")
    summary = {"content": {"instrument": CONTENT_NOTES[0], "keys": list(CONTENT_NOTES[1])},
               "style": {"instrument": STYLE_NOTES[0], "keys": list(STYLE_NOTES[1])},
               "config": {"sr": sr, "note_s": cfg["note_s"], "steps": cfg["steps"], "J": cfg["J"],
                          "seed": seed, "quick": quick},
               "timbre_to_style_of_content": 1.0,
               "results": results}
    write_json(out / "style.json", summary)
    _figure_style(signals, runs, sr, out / "style_transfer.png",
                  title=f"{CONTENT_NOTES[0]} in the style of a {STYLE_NOTES[0]}")
    say(f"wrote {out / 'style_transfer.png'} and {out / 'style.json'}")
    return summary
