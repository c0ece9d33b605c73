"""Timbre transfer with the STFT-LSTM autoencoder (Gabrielli, Cella et al., 2017).

Train `jaxmusic.models.STFTAutoencoder` to reconstruct the STFT magnitudes of
one file, or of a whole instrument class, then pass another sound through it:
the network imposes the spectra it learned on the input's frames
(hybridization), or decodes a mix of two sounds' latent codes (morphing).

The spectral front end, per STFT frame ``t`` of magnitude ``M_t``:

- ``N_t = M_t / max(||M_t||, floor)`` — every frame normalised to unit energy,
  ``floor = 1e-4 max_t ||M_t||``: the network learns spectral shape, not
  loudness (the seed: "input energy not transferred to the output ... handled
  outside the neural network");
- features ``log1p(gain N_t)`` (``log=True``, ``gain=100``) or ``N_t``;
- input: frames ``t - C + 1 .. t`` (``C = context``; zeros before the start),
  target: frame ``t``.

Resynthesis keeps the input's phase and its frame energy: the decoded frame is
mapped back through the features, rescaled to ``||M_t||``, given the input's
phase and inverted by ISTFT (window-normalised overlap-add) to the input's
length. Silent input gives silent output.

Inputs at another rate than the model's are resampled to it (librosa,
`jaxmusic.audio.RES_TYPE`); stereo is mixed down; the output is at the model's
rate and is not peak-normalised (`jaxmusic.synthesis.fit_peak` does that).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_int, check_real
from .._files import Legacy, as_run_dir, read_json, write_json
from ..fourier import istft, stft
from ._common import prepare, repeat_to, training_signals

__all__ = ["AutoencoderConfig", "TimbreAutoencoder", "train_autoencoder", "transfer", "morph",
           "reconstruct", "autoencoder_frames", "load_autoencoder", "save_autoencoder"]

_FLOOR = 1e-4   # frame-energy floor, relative to the loudest frame
_CONFIG = "autoencoder.json"
#: A model folder written before folder markers existed.
_LEGACY = Legacy(_CONFIG, names=("model", "checkpoints", "metrics.json", "curves.png", "reconstruction.wav",
                                 "reconstruction.png"))


@dataclasses.dataclass(frozen=True)
class AutoencoderConfig:
    """Everything that fixes the autoencoder's input and architecture (saved as JSON)."""

    sr: int = 16000
    n_fft: int = 1024
    hop_length: int = 256
    context: int = 4
    lstm: bool = True
    log: bool = True
    gain: float = 100.0
    encoder: tuple = (256,)
    latent: int = 128
    decoder: tuple = (256,)

    def __post_init__(self):
        check_int("sr", self.sr, min=1000)
        n_fft = check_int("n_fft", self.n_fft, min=16)
        check_int("hop_length", self.hop_length, min=1, max=n_fft)
        check_int("context", self.context, min=1)
        check_int("latent", self.latent, min=1)
        check_real("gain", self.gain, min=0.0, strict_min=True)
        for name in ("lstm", "log"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"{name} must be True or False, got {getattr(self, name)!r}")
        object.__setattr__(self, "encoder", tuple(int(w) for w in self.encoder))
        object.__setattr__(self, "decoder", tuple(int(w) for w in self.decoder))

    @property
    def n_bins(self) -> int:
        return 1 + self.n_fft // 2

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["encoder"], d["decoder"] = list(self.encoder), list(self.decoder)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "AutoencoderConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names})


@dataclasses.dataclass
class TimbreAutoencoder:
    """A trained autoencoder and its front end: what `transfer` and `morph` use.

    Attributes
    ----------
    model : jaxmusic.models.STFTAutoencoder
    config : AutoencoderConfig
    info : dict
        What it was trained on and how (files, frames, steps, losses); JSON.
    """

    model: Any
    config: AutoencoderConfig
    info: dict = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------------------- front end (pure JAX)

def _features(y, cfg: AutoencoderConfig):
    """STFT of ``y`` -> (context features (T, C, F), target features (T, F), frame norms (T,), D (F, T))."""
    D = stft(y, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    M = jnp.abs(D)
    norms = jnp.sqrt(jnp.sum(M * M, axis=0))
    floor = _FLOOR * jnp.max(norms) + jnp.finfo(M.dtype).tiny
    N = M / jnp.maximum(norms, floor)
    f = (jnp.log1p(cfg.gain * N) if cfg.log else N).T                      # (T, F)
    padded = jnp.concatenate([jnp.zeros((cfg.context - 1, f.shape[1]), f.dtype), f])
    ctx = jnp.stack([padded[k:k + f.shape[0]] for k in range(cfg.context)], axis=1)  # (T, C, F), oldest first
    return ctx, f, norms, D


def _synthesis(out, norms, D, length, cfg: AutoencoderConfig):
    """Decoded features (T, F) -> audio: back through the features, the frame energies, the phase of ``D``."""
    N = jnp.expm1(jnp.maximum(out, 0.0)) / cfg.gain if cfg.log else jnp.maximum(out, 0.0)
    scale = norms / jnp.maximum(jnp.sqrt(jnp.sum(N * N, axis=1)), jnp.finfo(N.dtype).tiny)
    M = (N * scale[:, None]).T                                              # (F, T)
    mag = jnp.abs(D)
    phase = jnp.where(mag > 0, D / jnp.where(mag > 0, mag, 1.0), 1.0)
    return istft(M * phase, hop_length=cfg.hop_length, n_fft=cfg.n_fft, length=length)


def autoencoder_frames(y, config: AutoencoderConfig):
    """The network's input and target for one signal.

    Parameters
    ----------
    y : (samples,) float
    config : AutoencoderConfig

    Returns
    -------
    inputs : (frames, context, n_bins) float32
    targets : (frames, n_bins) float32
    """
    ctx, f, _, _ = _features(jnp.asarray(y, jnp.float32), config)
    return ctx, f


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _transfer_kernel(graphdef, cfg, length, state, y):
    from flax import nnx

    model = nnx.merge(graphdef, state)
    ctx, _, norms, D = _features(y, cfg)
    out = model(ctx[None])[0]
    return _synthesis(out, norms, D, length, cfg)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _morph_kernel(graphdef, cfg, length, state, a, b, alpha):
    from flax import nnx

    model = nnx.merge(graphdef, state)
    ca, _, na, Da = _features(a, cfg)
    cb, _, nb, Db = _features(b, cfg)
    z = (1 - alpha) * model.encode(ca[None]) + alpha * model.encode(cb[None])
    out = model.decode(z)[0]
    D = jnp.where(alpha <= 0.5, Da, Db)
    return _synthesis(out, (1 - alpha) * na + alpha * nb, D, length, cfg)


# ---------------------------------------------------------------------------- checks

def _check_ae(ae) -> TimbreAutoencoder:
    if not isinstance(ae, TimbreAutoencoder):
        raise ParameterError(f"expected a TimbreAutoencoder (from train_autoencoder or load_autoencoder), "
                             f"got {type(ae).__name__}")
    return ae


def _input(y, name, ae: TimbreAutoencoder, sr):
    cfg = ae.config
    if sr is not None:
        sr = check_int("sr", sr, min=1)
    return prepare(y, name=name, n_fft=cfg.n_fft, sr=cfg.sr, orig_sr=sr)


def check_config(ae: TimbreAutoencoder, **expected) -> None:
    """Raise `ParameterError` if the model's config differs from ``expected`` (e.g. sr, n_fft)."""
    cfg = _check_ae(ae).config
    for k, v in expected.items():
        if v is not None and getattr(cfg, k) != v:
            raise ParameterError(f"the autoencoder was trained with {k}={getattr(cfg, k)!r}, not {v!r}: "
                                 f"use {k}={getattr(cfg, k)!r}, or train a model for {k}={v!r}")


# ---------------------------------------------------------------------------- public API

def transfer(ae: TimbreAutoencoder, y, *, sr: int | None = None) -> np.ndarray:
    """Pass ``y`` through the autoencoder: its spectra learned, ``y``'s phase and energy.

    Parameters
    ----------
    ae : TimbreAutoencoder
    y : (samples,) or (channels, samples) float
        The input (mixed down to mono).
    sr : int, optional
        ``y``'s sampling rate; resampled to the model's when it differs.
        Default: the model's.

    Returns
    -------
    np.ndarray, (samples,) float32, at the model's rate, as long as ``y`` (after resampling).
    """
    ae = _check_ae(ae)
    y = _input(y, "y", ae, sr)
    from flax import nnx

    graphdef, state = nnx.split(ae.model)
    return np.asarray(_transfer_kernel(graphdef, ae.config, int(y.shape[0]), state, jnp.asarray(y)))


def reconstruct(ae: TimbreAutoencoder, y, *, sr: int | None = None) -> np.ndarray:
    """`transfer` of the training sound itself: the seed's reconstruction sanity check."""
    return transfer(ae, y, sr=sr)


def morph(ae: TimbreAutoencoder, a, b, *, alpha: float = 0.5, sr: int | None = None) -> np.ndarray:
    """Morph two sounds by decoding a mix of their latent codes.

    ``z = (1 - alpha) z_a + alpha z_b`` frame by frame, decoded; the frame
    energies are mixed the same way and the phase is ``a``'s for
    ``alpha <= 0.5``, else ``b``'s. The output is as long as the longer input;
    the shorter is repeated (tiled from its start) to that length.

    Parameters
    ----------
    ae : TimbreAutoencoder
    a, b : (samples,) float
    alpha : float in [0, 1]
    sr : int, optional
        Rate of ``a`` and ``b`` (default: the model's).

    Returns
    -------
    np.ndarray, (samples,) float32, at the model's rate
    """
    ae = _check_ae(ae)
    alpha = check_real("alpha", alpha, min=0.0, max=1.0)
    a, b = _input(a, "a", ae, sr), _input(b, "b", ae, sr)
    n = max(a.shape[0], b.shape[0])
    a, b = repeat_to(a, n), repeat_to(b, n)
    from flax import nnx

    graphdef, state = nnx.split(ae.model)
    return np.asarray(_morph_kernel(graphdef, ae.config, n, state, jnp.asarray(a), jnp.asarray(b),
                                    jnp.float32(alpha)))


def _sequences(signals, cfg: AutoencoderConfig, seq_len: int):
    """Overlapping sequences of ``seq_len`` frames (hop ``seq_len // 2``) from every signal.

    A signal shorter than ``seq_len`` frames gives one sequence padded with zero frames."""
    xs, ys = [], []
    for y in signals:
        ctx, f = (np.asarray(a) for a in autoencoder_frames(y, cfg))
        T = f.shape[0]
        if T < seq_len:
            pad = seq_len - T
            ctx = np.concatenate([ctx, np.zeros((pad,) + ctx.shape[1:], ctx.dtype)])
            f = np.concatenate([f, np.zeros((pad,) + f.shape[1:], f.dtype)])
            T = seq_len
        starts = list(range(0, T - seq_len + 1, max(1, seq_len // 2)))
        if starts[-1] != T - seq_len:
            starts.append(T - seq_len)
        for s in starts:
            xs.append(ctx[s:s + seq_len])
            ys.append(f[s:s + seq_len])
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)


def train_autoencoder(
    audio,
    *,
    sr: int = 16000,
    n_fft: int = 1024,
    hop_length: int = 256,
    context: int = 4,
    lstm: bool = True,
    log: bool = True,
    encoder: Sequence[int] = (256,),
    latent: int = 128,
    decoder: Sequence[int] = (256,),
    seq_len: int = 32,
    steps: int = 2000,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    val_fraction: float = 0.1,
    patience: int | None = None,
    eval_every: int | None = None,
    seed: int = 0,
    out=None,
    logdir=None,
    mesh=None,
    progress: bool = True,
    force: bool = False,
) -> TimbreAutoencoder:
    """Train the STFT autoencoder on one sound or a whole class, with `jaxmusic.train.minimize`.

    The frames of every signal are cut into overlapping sequences of
    ``seq_len`` frames (the LSTM's unrolled length); a seeded ``val_fraction``
    of them is held out for the validation loss that picks the kept
    parameters. Loss: mean squared error of the features (see the module).

    Parameters
    ----------
    audio : array (samples,), array (n, samples), path, or a sequence of them
        Training sound(s) at ``sr`` (files are loaded and resampled to ``sr``);
        a 2-d array is a batch of mono signals (e.g. ``Dataset.audio`` of one
        class), not channels.
    sr, n_fft, hop_length, context, lstm, log, encoder, latent, decoder
        The front end and the architecture (`AutoencoderConfig`, `STFTAutoencoder`):
        ``context=1`` and ``lstm=False`` give the plain STFT autoencoder of the
        seed's ablation.
    seq_len : int
        Frames per training sequence.
    steps, batch_size, learning_rate, patience, eval_every, seed, mesh, progress
        As in `jaxmusic.train.minimize` (Adam).
    val_fraction : float in [0, 0.5]
        Share of sequences held out (0: none; the last parameters are kept).
    out : str or path-like, optional
        Folder for the model: ``autoencoder.json`` (config and training info),
        ``model/`` (parameters, Orbax), ``checkpoints/`` (resumable training:
        a rerun with the same folder continues an interrupted run; a different
        config is refused), ``metrics.json`` and ``curves.png``. The folder is
        jaxmusic's (marker ``.jaxmusic.json``): an existing folder jaxmusic did not
        write is refused.
    logdir : str or path-like, optional
        TensorBoard log folder (`jaxmusic.train.minimize`'s ``logdir``: the
        losses, learning rate and examples per second at every evaluation), and
        at the end of training ``audio/input`` (the first 3 s of the first
        training sound) and ``audio/reconstruction`` (the same through the
        model). It may be ``out`` itself.
    force : bool
        Train into an existing folder that jaxmusic did not write (only the
        names above are written there; nothing else is touched).

    Returns
    -------
    TimbreAutoencoder
    """
    from flax import nnx

    from .. import train
    from ..models.autoencoder import STFTAutoencoder

    cfg = AutoencoderConfig(sr=check_int("sr", sr, min=1000), n_fft=n_fft, hop_length=hop_length, context=context,
                            lstm=lstm, log=log, encoder=tuple(encoder), latent=latent, decoder=tuple(decoder))
    seq_len = check_int("seq_len", seq_len, min=1)
    val_fraction = check_real("val_fraction", val_fraction, min=0.0, max=0.5)
    signals, names = training_signals(audio, sr=cfg.sr)
    for y, name in zip(signals, names):
        if y.shape[0] < cfg.n_fft:
            raise ParameterError(f"{name or 'a training signal'} has {y.shape[0]} samples, shorter than one frame (n_fft={cfg.n_fft})")
    x, t = _sequences(signals, cfg, seq_len)
    order = np.random.default_rng([seed, 7]).permutation(len(x))
    n_val = int(round(val_fraction * len(x))) if len(x) > 1 else 0
    val_idx, tr_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    out = as_run_dir(out, "autoencoder", force=force, legacy=_LEGACY)
    if out is not None and out.owns(_CONFIG) and (out.path / _CONFIG).is_file():
        try:
            saved = AutoencoderConfig.from_json(read_json(out.path / _CONFIG, what="this model folder")["config"])
        except (KeyError, TypeError, ValueError) as err:
            raise ParameterError(f"{out.path / _CONFIG} is not an autoencoder description ({err}): move it away "
                                 "or choose another folder") from err
        if saved != cfg:
            diff = [f"{f.name}={getattr(saved, f.name)!r} there, {getattr(cfg, f.name)!r} here"
                    for f in dataclasses.fields(cfg) if getattr(saved, f.name) != getattr(cfg, f.name)]
            raise train.CheckpointError(f"{out} holds an autoencoder with another configuration "
                                        f"({'; '.join(diff)}): use another folder")
    model = STFTAutoencoder(n_bins=cfg.n_bins, context=cfg.context, encoder=cfg.encoder, latent=cfg.latent,
                            lstm=cfg.lstm, decoder=cfg.decoder, rngs=nnx.Rngs(seed))
    info = {"files": [n for n in names if n is not None], "arrays": sum(n is None for n in names), "sequences": int(len(x)), "frames": int(sum(1 + len(y) // cfg.hop_length for y in signals)),
            "seq_len": seq_len, "validation_sequences": n_val, "steps": int(steps), "batch_size": int(batch_size),
            "learning_rate": float(learning_rate), "seed": int(seed)}
    if out is not None:
        # the folder's model is superseded from here on: never left beside a config it does not match
        out.remove("model") if out.owns("model") else None
        write_json(out / _CONFIG, {"config": cfg.to_json(), "info": dict(info, complete=False)})
    if patience is not None and not n_val:
        raise ParameterError("patience (early stopping) needs validation sequences: use val_fraction > 0 "
                             f"(got {val_fraction}) and more than one sequence (got {len(x)})")
    batch_size = min(check_int("batch_size", batch_size, min=1), max(1, len(tr_idx)))
    from ..train.logs import SummaryLog, log_folder

    log_dir = log_folder(logdir, out=out, force=force, writer=jax.process_index() == 0)
    result = train.minimize(
        model, x[tr_idx], t[tr_idx], val=(x[val_idx], t[val_idx]) if n_val else None,
        learning_rate=learning_rate, batch_size=batch_size, steps=steps, eval_every=eval_every, patience=patience,
        seed=seed, checkpoint_dir=None if out is None else out / "checkpoints", mesh=mesh, out=out,
        progress=progress, desc="autoencoder", logdir=log_dir)
    last = result.history[-1] if result.history else {}
    info.update(complete=True, steps_taken=result.steps, best_step=result.best_step, train_loss=last.get("train_loss"),
                val_loss=last.get("val_loss"), seconds=result.seconds, resumed_from=result.resumed_from,
                steps_run=result.steps_run)
    ae = TimbreAutoencoder(model=model, config=cfg, info=info)
    if log_dir is not None and jax.process_index() == 0:  # TensorBoard: a training sound and its reconstruction
        with SummaryLog(log_dir) as log:
            if not log.has("audio/reconstruction", result.steps):
                clip = np.asarray(signals[0][:3 * cfg.sr], np.float32)
                log.audio({"audio/input": clip, "audio/reconstruction": reconstruct(ae, clip)}, sr=cfg.sr,
                          step=result.steps)
    if out is not None:
        save_autoencoder(ae, out)
    return ae


def save_autoencoder(ae: TimbreAutoencoder, folder, *, force: bool = False) -> Path:
    """Write ``folder/autoencoder.json`` and the parameters to ``folder/model`` (Orbax; no pickle).

    The folder is jaxmusic's (see `train_autoencoder`; ``force`` as there); a model
    saved there before is replaced once the new one is written whole."""
    import orbax.checkpoint as ocp
    from flax import nnx

    ae = _check_ae(ae)
    run = as_run_dir(folder, "autoencoder", force=force, legacy=_LEGACY)

    def write(target):
        with ocp.StandardCheckpointer() as ck:
            ck.save(target.absolute(), nnx.state(ae.model, nnx.Param))

    run.replace("model", write)
    write_json(run / _CONFIG, {"config": ae.config.to_json(), "info": ae.info})
    return run.path


def load_autoencoder(folder, *, sr: int | None = None, n_fft: int | None = None) -> TimbreAutoencoder:
    """Read a model written by `train_autoencoder` / `save_autoencoder`.

    ``sr`` and ``n_fft``, when given, must be the model's: a model trained at
    another rate or frame size raises `ParameterError`.
    """
    import orbax.checkpoint as ocp
    from flax import nnx

    from ..models.autoencoder import STFTAutoencoder

    folder = Path(folder).absolute()
    cfg_file = folder / _CONFIG
    if not cfg_file.is_file() or not (folder / "model").is_dir():
        raise ParameterError(f"{folder} holds no trained autoencoder (no {_CONFIG} and model/): "
                             "train one with jaxmusic train-autoencoder")
    try:
        saved = json.loads(cfg_file.read_text())
        cfg = AutoencoderConfig.from_json(saved["config"])
    except (ValueError, KeyError, TypeError) as err:
        raise ParameterError(f"{cfg_file} is not a valid autoencoder description: {err}") from err
    model = STFTAutoencoder(n_bins=cfg.n_bins, context=cfg.context, encoder=cfg.encoder, latent=cfg.latent,
                            lstm=cfg.lstm, decoder=cfg.decoder, rngs=nnx.Rngs(0))
    abstract = nnx.state(model, nnx.Param)
    try:
        with ocp.StandardCheckpointer() as ck:
            params = ck.restore(folder / "model", abstract)
    except Exception as err:
        raise ParameterError(f"cannot read the parameters in {folder / 'model'}: {err}") from err
    nnx.update(model, params)
    ae = TimbreAutoencoder(model=model, config=cfg, info=saved.get("info", {}))
    check_config(ae, sr=sr, n_fft=n_fft)
    return ae
