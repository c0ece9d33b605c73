"""Train, save and use WaveNet autoencoders and music translators.

- `train_wavenet`: the NSynth WaveNet autoencoder (`jaxmusic.models.WaveNetAutoencoder`)
  on any audio, with `jaxmusic.train.minimize` (cross-entropy of the mu-law
  classes, teacher forcing): the mesh, the Orbax checkpoints that resume an
  interrupted run, the progress bar, ``metrics.json`` and ``curves.png``.
- `train_translator`: the Universal Music Translation Network
  (`jaxmusic.models.MusicTranslator`; Mor et al., 2019) on two or more domains.
  Every step takes a batch of one domain (domains in turn), applies
  `pitch_augment` to the encoder's input only, and makes two updates, as in
  the paper: the domain classifier learns to tell the domain from the codes,
  then the encoder and that domain's decoder minimise the reconstruction loss
  minus ``lambda_`` times the classifier's loss (the encoder confuses it).
  It runs on the same loop as `minimize`.
- `reconstruct`, `translate(model, audio, to_domain)`, `morph(model, a, b, alpha=)`:
  generation with the cached decoder (`jaxmusic.models.wavenet.generate`).
- `save_wavenet` / `load_wavenet`: ``wavenet.json`` (kind, configuration,
  domains, training info) and ``model/`` (parameters, Orbax; no pickle).

All audio is mono float in [-1, 1] at the model's rate (``config.sr``); other
rates are resampled (librosa) when ``sr`` is given. Lengths are padded with
silence to whole latent frames and the outputs cut back.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .._checks import ParameterError, check_int, check_real
from .._files import Legacy, as_run_dir, read_json, write_json
from ._common import prepare, training_signals

__all__ = [
    "WaveNetModel", "train_wavenet", "train_translator", "pitch_augment", "wavenet_loss",
    "reconstruct", "translate", "morph", "encode", "save_wavenet", "load_wavenet",
]

_CONFIG = "wavenet.json"


@dataclasses.dataclass
class WaveNetModel:
    """A trained WaveNet autoencoder or translator, with what describes it.

    Attributes
    ----------
    model : WaveNetAutoencoder or MusicTranslator
    kind : {'autoencoder', 'translator'}
    domains : list of str
        Names of the translator's domains (``decoders[j]`` is ``domains[j]``);
        ``[]`` for an autoencoder.
    info : dict
        Training data, steps, losses (JSON).
    """

    model: Any
    kind: str
    domains: list = dataclasses.field(default_factory=list)
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def config(self):
        return self.model.config

    @property
    def sr(self) -> int:
        return self.model.config.sr

    def domain_index(self, domain) -> int:
        """``domain`` (a name or an index) as an index of ``domains``."""
        if self.kind != "translator":
            raise ParameterError("an autoencoder has no domains: use reconstruct or morph")
        if isinstance(domain, str):
            if domain not in self.domains:
                raise ParameterError(f"unknown domain {domain!r}: this translator has {', '.join(self.domains)}")
            return self.domains.index(domain)
        return self.model.check_domain(domain)


# ---------------------------------------------------------------------------------------------- losses
def wavenet_loss(logits, targets, mask):
    """Mean over the masked rows of each row's mean cross-entropy of the next-sample classes.

    logits (batch, samples, 256), targets (batch, samples) int, mask (batch,) bool."""
    import jax.numpy as jnp
    import optax

    ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets.astype(jnp.int32))
    per_row = ce.mean(axis=1)
    w = mask.astype(per_row.dtype)
    return jnp.sum(per_row * w) / jnp.maximum(jnp.sum(w), 1.0)


def pitch_augment(key, x, *, min_fraction: float = 0.25, max_fraction: float = 0.5, max_semitones: float = 0.5):
    """Mor et al.'s augmentation: a random sub-segment of each crop shifted in pitch.

    A segment of a uniformly drawn ``min_fraction`` to ``max_fraction`` of the
    crop, at a uniform position, is resampled by a ratio of ``2 ** (s / 12)``
    with ``s`` uniform in ``[-max_semitones, max_semitones]`` (linear
    interpolation: a local change of speed, hence of pitch; the segment keeps
    its length and the rest of the crop is unchanged). Pure JAX, one draw per row.

    Parameters
    ----------
    key : jax.Array
    x : (batch, samples) float

    Returns
    -------
    (batch, samples) float
    """
    import jax
    import jax.numpy as jnp

    b, n = x.shape
    k1, k2, k3 = jax.random.split(key, 3)
    length = jax.random.uniform(k1, (b, 1), minval=min_fraction, maxval=max_fraction) * n
    t0 = jax.random.uniform(k2, (b, 1)) * (n - length)
    ratio = 2.0 ** (jax.random.uniform(k3, (b, 1), minval=-max_semitones, maxval=max_semitones) / 12.0)
    t = jnp.arange(n, dtype=jnp.float32)[None]
    inside = (t >= t0) & (t < t0 + length)
    pos = jnp.clip(jnp.where(inside, t0 + (t - t0) * ratio, t), 0, n - 1)
    i0 = jnp.floor(pos).astype(jnp.int32)
    frac = pos - i0
    i1 = jnp.minimum(i0 + 1, n - 1)
    return (jnp.take_along_axis(x, i0, axis=1) * (1 - frac) + jnp.take_along_axis(x, i1, axis=1) * frac).astype(x.dtype)


# ---------------------------------------------------------------------------------------------- data
def _crops(signals, crop: int, *, min_rms: float = 1e-3) -> np.ndarray:
    """Every signal cut into crops of ``crop`` samples, half-overlapping, near-silent ones dropped."""
    rows = []
    for y in signals:
        if y.shape[0] < crop:
            y = np.pad(y, (0, crop - y.shape[0]))
        for s in range(0, y.shape[0] - crop + 1, crop // 2):
            c = y[s:s + crop]
            if np.sqrt(np.mean(c * c)) >= min_rms:
                rows.append(c)
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, crop), np.float32)


def _split(n: int, val_fraction: float, seed: int):
    order = np.random.default_rng([seed, 11]).permutation(n)
    n_val = int(round(val_fraction * n)) if n > 1 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


#: A model folder written before folder markers existed.
_LEGACY = Legacy(_CONFIG,
                 names=("model", "checkpoints", "metrics.json", "curves.png", "reconstruction.wav",
                        "reconstruction.png", "translation.wav", "translation.png"))


def _claim(out, kind: str, force: bool):
    """The model folder (a `jaxmusic._files.RunDir` of kind ``wavenet-autoencoder`` or
    ``wavenet-translator``), or None."""
    return as_run_dir(out, f"wavenet-{kind}", force=force, legacy=_LEGACY)


def _check_folder(out, kind: str, cfg, extra: dict):
    """A model folder being trained into must hold the same kind and configuration (or nothing)."""
    from .. import train
    from ..models.wavenet import WaveNetConfig

    f = out.path / _CONFIG
    if not out.owns(_CONFIG) or not f.is_file():
        return
    saved = read_json(f, what="this model folder")
    if not isinstance(saved, dict) or "config" not in saved:
        raise ParameterError(f"{f} is not a WaveNet model description: move it away or choose another folder")
    diff = []
    if saved.get("kind") != kind:
        diff.append(f"kind={saved.get('kind')!r} there, {kind!r} here")
    else:
        old = WaveNetConfig.from_json(saved["config"])
        diff += [f"{k.name}={getattr(old, k.name)!r} there, {getattr(cfg, k.name)!r} here"
                 for k in dataclasses.fields(cfg) if getattr(old, k.name) != getattr(cfg, k.name)]
        diff += [f"{k}={saved.get(k)!r} there, {v!r} here" for k, v in extra.items() if saved.get(k) != v]
    if diff:
        raise train.CheckpointError(f"{out} holds a WaveNet model of another configuration ({'; '.join(diff)}): "
                                    "use another folder")


def _begin(out, kind, cfg, extra, info):
    if out is None:
        return
    if out.owns("model"):  # superseded from here on: never left beside a config it does not match
        out.remove("model")
    write_json(out / _CONFIG, {"kind": kind, "config": cfg.to_json(), **extra, "info": dict(info, complete=False)})


def _config(preset, config):
    from ..models.wavenet import WaveNetConfig, wavenet_config

    if config is not None:
        if not isinstance(config, WaveNetConfig):
            raise ParameterError(f"config must be a WaveNetConfig, got {type(config).__name__}")
        return config
    return wavenet_config(preset)


def _crop_length(crop, cfg) -> int:
    crop = check_int("crop", crop, min=cfg.hop)
    if crop % cfg.hop:
        raise ParameterError(f"crop must be a multiple of the model's hop ({cfg.hop} samples), got {crop}")
    return crop


# ---------------------------------------------------------------------------------------------- autoencoder
def train_wavenet(
    audio,
    *,
    preset: str = "tiny",
    config=None,
    crop: int = 2048,
    steps: int = 1000,
    batch_size: int = 8,
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
) -> WaveNetModel:
    """Train a WaveNet autoencoder (NSynth) on audio, with `jaxmusic.train.minimize`.

    Parameters
    ----------
    audio : array (samples,), array (n, samples), path, or a sequence of them
        Training sound(s) at the model's rate (files are resampled to it).
    preset : {'tiny', 'nsynth'}
        `WAVENET_PRESETS` entry, unless ``config`` (a `WaveNetConfig`) is given.
    crop : int
        Samples per training example (a multiple of the hop); the sounds are
        cut into half-overlapping crops, near-silent ones dropped.
    steps, batch_size, learning_rate, patience, eval_every, seed, mesh, progress
        As in `jaxmusic.train.minimize` (Adam).
    val_fraction : float in [0, 0.5]
        Share of crops held out for the validation loss that picks the kept parameters.
    out : path, optional
        Model folder: ``wavenet.json``, ``model/``, ``checkpoints/`` (a rerun
        resumes; another configuration is refused), ``metrics.json``, ``curves.png``.
        The folder is jaxmusic's (marker ``.jaxmusic.json``): an existing folder
        jaxmusic did not write is refused unless ``force``.
    logdir : path, optional
        TensorBoard log folder (`jaxmusic.train.minimize`'s ``logdir``: losses,
        learning rate, examples per second at every evaluation), and at the end
        ``audio/input`` (the first 2 s of the first training sound) and
        ``audio/reconstruction`` (the model's most likely next sample at every
        step, given the true past: one pass, no generation). It may be ``out``.
    force : bool
        Train into an existing folder that jaxmusic did not write (only the names
        above are written there; nothing else is touched).

    Returns
    -------
    WaveNetModel
    """
    from flax import nnx

    from .. import train
    from ..models.wavenet import WaveNetAutoencoder

    cfg = _config(preset, config)
    crop = _crop_length(crop, cfg)
    val_fraction = check_real("val_fraction", val_fraction, min=0.0, max=0.5)
    signals = training_signals(audio, sr=cfg.sr)[0]
    x = _crops(signals, crop)
    if not len(x):
        raise ParameterError("the training audio is silent: no crop reaches an RMS of 1e-3")
    tr, va = _split(len(x), val_fraction, seed)
    if patience is not None and not len(va):
        raise ParameterError("patience (early stopping) needs validation crops: use val_fraction > 0")
    out = _claim(out, "autoencoder", force)
    if out is not None:
        _check_folder(out, "autoencoder", cfg, {"crop": crop})
    info = {"crops": int(len(x)), "validation_crops": int(len(va)), "crop": crop, "steps": int(steps),
            "batch_size": int(batch_size), "learning_rate": float(learning_rate), "seed": int(seed)}
    _begin(out, "autoencoder", cfg, {"crop": crop}, info)
    import jax

    q = np.asarray(jax.jit(_classes)(x))
    model = WaveNetAutoencoder(config=cfg, rngs=nnx.Rngs(seed))
    batch_size = min(check_int("batch_size", batch_size, min=1), len(tr))
    log_dir = _log_folder(logdir, out, force)
    result = train.minimize(
        model, x[tr], q[tr], loss=wavenet_loss, val=(x[va], q[va]) if len(va) else None,
        learning_rate=learning_rate, batch_size=batch_size, steps=steps, eval_every=eval_every, patience=patience,
        seed=seed, checkpoint_dir=None if out is None else out / "checkpoints", mesh=mesh, out=out,
        progress=progress, desc="wavenet", logdir=log_dir)
    last = result.history[-1] if result.history else {}
    info.update(complete=True, steps_taken=result.steps, best_step=result.best_step,
                train_loss=last.get("train_loss"), val_loss=last.get("val_loss"), seconds=result.seconds,
                resumed_from=result.resumed_from, steps_run=result.steps_run)
    wm = WaveNetModel(model=model, kind="autoencoder", info=info)
    _log_audio(log_dir, wm, signals[0], step=result.steps)
    if out is not None:
        save_wavenet(wm, out, crop=crop)
    return wm


def _classes(x):
    from ..models.wavenet import mu_law_encode

    return mu_law_encode(x)


# ---------------------------------------------------------------------------------------------- translator
class DomainSampler:
    """Batches of one domain at a time, the domains in turn: batch ``s`` is domain
    ``s % n_domains``, drawn by that domain's `ShuffleSampler` (every crop once per
    epoch of the domain). A pure function of ``(seed, s)``, so resumption repeats it."""

    def __init__(self, domains: np.ndarray, *, batch_size: int, seed: int = 0):
        from ..train import ShuffleSampler

        self.rows = [np.flatnonzero(domains == d) for d in range(int(domains.max()) + 1)]
        if any(len(r) == 0 for r in self.rows):
            raise ParameterError("every domain needs at least one training crop")
        self.samplers = [ShuffleSampler(len(r), batch_size=batch_size, seed=seed + 101 * d)
                         for d, r in enumerate(self.rows)]

    def indices(self, step: int) -> np.ndarray:
        d = int(step) % len(self.rows)
        return self.rows[d][self.samplers[d].indices(int(step) // len(self.rows))]


def _translator_steps(model, *, learning_rate, lambda_, augment, seed, mesh):
    """The translator's compiled steps, in the form `jaxmusic.train`'s loop runs."""
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx
    from jax.sharding import NamedSharding, PartitionSpec

    from ..models.wavenet import decoder_inputs, mu_law_encode
    from ..train.mesh import DATA_AXIS, replicate
    from ..train.step import MUTABLE, Steps, TrainState, cross_entropy

    graphdef, _, _, consts = nnx.split(model, nnx.Param, MUTABLE, ...)
    consts = replicate(consts, mesh)

    def labels(which):
        def f(params):
            def lab(path, _):
                in_cls = any(getattr(k, "key", getattr(k, "name", None)) == "classifier" for k in path)
                return "train" if in_cls == (which == "classifier") else "freeze"
            return jax.tree_util.tree_map_with_path(lab, params)
        return f

    opt_cls = optax.multi_transform({"train": optax.adam(learning_rate), "freeze": optax.set_to_zero()},
                                    labels("classifier"))
    opt_ae = optax.multi_transform({"train": optax.adam(learning_rate), "freeze": optax.set_to_zero()},
                                   labels("autoencoder"))
    base = jax.random.key(seed)

    def init():
        _, p, m, _ = nnx.split(model, nnx.Param, MUTABLE, ...)
        return replicate(TrainState(jnp.zeros((), jnp.int32), p, (opt_ae.init(p), opt_cls.init(p)), m), mesh)

    def merged(params, mutable, consts):
        return nnx.merge(graphdef, params, jax.tree.map(lambda a: a, mutable), consts)

    def train(state, batch, sums, consts):
        x, dom, mask = batch["x"], batch["y"], batch["mask"]
        q = mu_law_encode(x)
        inp = decoder_inputs(q)
        x_enc = pitch_augment(jax.random.fold_in(base, state.step), x) if augment else x

        def classifier_loss(params):
            m = merged(params, state.mutable, consts)
            return cross_entropy(m.classifier(jax.lax.stop_gradient(m.encoder(x_enc))), dom, mask)

        g = jax.grad(classifier_loss)(state.params)
        upd, cls_state = opt_cls.update(g, state.opt_state[1], state.params)
        params = optax.apply_updates(state.params, upd)

        def autoencoder_loss(params):
            m = merged(params, state.mutable, consts)
            z = m.encoder(x_enc)
            rec = wavenet_loss(m.decode(inp, z, dom[0]), q, mask)
            return rec - lambda_ * cross_entropy(m.classifier(z), dom, mask), rec

        (_, rec), g = jax.value_and_grad(autoencoder_loss, has_aux=True)(params)
        upd, ae_state = opt_ae.update(g, state.opt_state[0], params)
        params = optax.apply_updates(params, upd)
        w = jnp.sum(mask.astype(jnp.float32))
        # the same keys as it was given (zero_sums also counts "correct"): one compiled step
        sums = {**sums, "loss": sums["loss"] + rec * w, "count": sums["count"] + w}
        return TrainState(state.step + 1, params, (ae_state, cls_state), state.mutable), sums

    def evaluate(state, batch, consts):
        m = merged(state.params, state.mutable, consts)
        x, dom, mask = batch["x"], batch["y"], batch["mask"]
        q = mu_law_encode(x)
        z = m.encoder(x)
        w = mask.astype(jnp.float32)
        rec = wavenet_loss(m.decode(decoder_inputs(q), z, dom[0]), q, mask)
        right = (jnp.argmax(m.classifier(z), axis=-1) == dom).astype(jnp.float32) * w
        return {"loss": rec * jnp.sum(w), "count": jnp.sum(w), "correct": jnp.sum(right)}

    repl = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    return Steps(init=init, train=jax.jit(train, out_shardings=(repl, repl)),
                 evaluate=jax.jit(evaluate, out_shardings=repl),
                 logits=jax.jit(lambda s, x, c: merged(s.params, s.mutable, c).encoder(x), out_shardings=split),
                 consts=consts, n_classes=None)


def _domains(domains, names):
    if isinstance(domains, Mapping):
        names = list(domains) if names is None else list(names)
        domains = list(domains.values())
    else:
        domains = list(domains)
        names = [f"domain {i}" for i in range(len(domains))] if names is None else [str(n) for n in names]
    if len(domains) < 2:
        raise ParameterError(f"a translator needs at least two domains, got {len(domains)}")
    if len(names) != len(domains) or len(set(names)) != len(names):
        raise ParameterError(f"names must name each of the {len(domains)} domains once, got {names}")
    return domains, names


def train_translator(
    domains,
    *,
    names: Sequence[str] | None = None,
    preset: str = "tiny",
    config=None,
    crop: int = 2048,
    steps: int = 1000,
    batch_size: int = 8,
    learning_rate: float = 1e-3,
    lambda_: float = 1e-2,
    augment: bool = True,
    classifier_width: int = 64,
    val_fraction: float = 0.1,
    patience: int | None = None,
    eval_every: int | None = None,
    seed: int = 0,
    out=None,
    logdir=None,
    mesh=None,
    progress: bool = True,
    force: bool = False,
) -> WaveNetModel:
    """Train a universal music translator (Mor et al., 2019) on two or more domains.

    Parameters
    ----------
    domains : mapping name -> audio, or a sequence of audio
        Each domain's training sound(s), as `train_wavenet`'s ``audio``.
    names : sequence of str, optional
        Domain names (default: the mapping's keys, or ``"domain 0"``, ...).
    preset, config, crop, steps, batch_size, learning_rate, val_fraction, patience, eval_every,
    seed, out, logdir, mesh, progress, force
        As in `train_wavenet`; a step takes ``batch_size`` crops of one domain (the
        audio summaries: the first domain's first sound through its decoder).
    lambda_ : float
        Weight of the domain-confusion term (the paper's 1e-2).
    augment : bool
        `pitch_augment` the encoder's input (the decoder's input and target stay clean).
    classifier_width : int
        Channels of the `DomainClassifier`.

    Returns
    -------
    WaveNetModel
        ``kind == 'translator'``; ``info['history']``-like figures in
        ``metrics.json``: ``val_loss`` (reconstruction) and
        ``val_domain_accuracy`` (the classifier on held-out codes: near chance
        when the codes are domain-free).
    """
    from flax import nnx

    from ..models.wavenet import MusicTranslator
    from ..train.loop import _batches, _run, _schedule, fingerprint
    from ..train.mesh import check_batch_size, make_mesh, to_host

    cfg = _config(preset, config)
    crop = _crop_length(crop, cfg)
    lambda_ = check_real("lambda_", lambda_, min=0.0)
    val_fraction = check_real("val_fraction", val_fraction, min=0.0, max=0.5)
    domains, names = _domains(domains, names)
    xs, ds, vx, vd, first = [], [], [], [], None
    for j, (audio, name) in enumerate(zip(domains, names)):
        signals = training_signals(audio, sr=cfg.sr, name=name)[0]
        if first is None:
            first = signals[0]  # the audio summaries' sound
        c = _crops(signals, crop)
        if not len(c):
            raise ParameterError(f"the training audio of domain {name!r} is silent: no crop reaches an RMS of 1e-3")
        tr, va = _split(len(c), val_fraction, seed + j)
        xs.append(c[tr]), ds.append(np.full(len(tr), j, np.int32))
        vx.append(c[va]), vd.append(np.full(len(va), j, np.int32))
    x, d = np.concatenate(xs), np.concatenate(ds)
    n_val = sum(len(v) for v in vx)
    if patience is not None and not n_val:
        raise ParameterError("patience (early stopping) needs validation crops: use val_fraction > 0")
    extra = {"crop": crop, "domains": names, "classifier_width": int(classifier_width)}
    out = _claim(out, "translator", force)
    if out is not None:
        _check_folder(out, "translator", cfg, extra)
    info = {"crops": {n: int(len(a) + len(b)) for n, a, b in zip(names, xs, vx)}, "validation_crops": int(n_val),
            "crop": crop, "steps": int(steps), "batch_size": int(batch_size), "learning_rate": float(learning_rate),
            "lambda": float(lambda_), "augment": bool(augment), "seed": int(seed)}
    _begin(out, "translator", cfg, extra, info)
    mesh = make_mesh() if mesh is None else mesh
    batch_size = min(check_int("batch_size", batch_size, min=1), min(len(a) for a in xs))
    check_batch_size(batch_size, mesh)
    steps_total = check_int("steps", steps, min=1)
    model = MusicTranslator(config=cfg, n_domains=len(names), classifier_width=classifier_width, rngs=nnx.Rngs(seed))
    patience, eval_every, checkpoint_every, _, out_dir = _schedule(
        len(x), batch_size, val=(vx, vd) if n_val else None, patience=patience, eval_every=eval_every,
        checkpoint_every=None, optimizer=None, learning_rate=learning_rate, out=out)
    steps_fn = _translator_steps(model, learning_rate=learning_rate, lambda_=lambda_, augment=augment, seed=seed,
                                 mesh=mesh)

    def validate(state):
        loss = count = correct = 0.0
        for a, b in zip(vx, vd):
            if not len(a):
                continue
            for batch in _batches(a, b, batch_size, mesh):
                r = to_host(steps_fn.evaluate(state, batch, steps_fn.consts))
                loss += float(r["loss"])
                count += float(r["count"])
                correct += float(r["correct"])
        value = loss / max(count, 1.0)
        return value, {"val_loss": value, "val_domain_accuracy": 100 * correct / max(count, 1.0)}

    def postfix(entry):
        return {"loss": f"{entry['train_loss']:.4g}",
                **({"val": f"{entry['val_loss']:.4g}", "dom": f"{entry['val_domain_accuracy']:.0f}%"}
                   if "val_loss" in entry else {})}

    import time

    t_start = time.perf_counter()
    log_dir = _log_folder(logdir, out_dir, force)
    result = _run(model, steps_fn, x, d, DomainSampler(d, batch_size=batch_size, seed=seed),
                  validate=validate if n_val else None, postfix=postfix,
                  run_config={"data": fingerprint(x, d), "val": fingerprint(np.concatenate(vx), np.concatenate(vd)),
                              "learning_rate": learning_rate, "lambda": lambda_, "augment": bool(augment),
                              "loss": "translator"},
                  seed=seed, batch_size=batch_size, steps_total=steps_total, eval_every=eval_every,
                  checkpoint_every=checkpoint_every, patience=patience,
                  checkpoint_dir=None if out is None else out / "checkpoints", keep=2, mesh=mesh, out=out_dir,
                  progress=progress, desc="translator", t_start=t_start, logdir=log_dir)
    last = result.history[-1] if result.history else {}
    info.update(complete=True, steps_taken=result.steps, best_step=result.best_step,
                train_loss=last.get("train_loss"), val_loss=last.get("val_loss"),
                val_domain_accuracy=last.get("val_domain_accuracy"), seconds=result.seconds,
                resumed_from=result.resumed_from, steps_run=result.steps_run)
    wm = WaveNetModel(model=model, kind="translator", domains=names, info=info)
    _log_audio(log_dir, wm, first, step=result.steps)
    if out is not None:
        save_wavenet(wm, out, crop=crop)
    return wm


def _log_folder(logdir, out, force):
    """The training's TensorBoard folder (`jaxmusic.train.logs`), or None."""
    import jax

    from ..train.logs import log_folder

    return log_folder(logdir, out=out, force=force, writer=jax.process_index() == 0)


def _log_audio(log_dir, wm: WaveNetModel, y, *, step: int, seconds: float = 2.0) -> None:
    """TensorBoard's audio summaries at the end of training: the first ``seconds`` of a
    training sound and the model's most likely next sample at each of its steps given
    the true past (teacher forced: one jitted pass, no sample-by-sample generation)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from ..models.wavenet import mu_law_decode
    from ..train.logs import SummaryLog

    if log_dir is None or jax.process_index() != 0:
        return
    with SummaryLog(log_dir) as log:
        if log.has("audio/reconstruction", step):
            return
        x, n = _audio(np.clip(np.asarray(y[:int(seconds * wm.sr)]), -1, 1), "the training sound", wm, None)
        graphdef, state = nnx.split(wm.model)

        @jax.jit
        def predicted(state, x):
            model = nnx.merge(graphdef, state)
            logits = model(x[None]) if wm.kind == "autoencoder" else model(x[None], 0)
            return mu_law_decode(jnp.argmax(logits[0], axis=-1))

        rec = np.asarray(predicted(state, jnp.asarray(x)))[:n]
        log.audio({"audio/input": x[:n], "audio/reconstruction": rec}, sr=wm.sr, step=step)


# ---------------------------------------------------------------------------------------------- use
def _check_model(model) -> WaveNetModel:
    if isinstance(model, (str, Path)):
        return load_wavenet(model)
    if not isinstance(model, WaveNetModel):
        raise ParameterError(f"model must be a WaveNetModel (train_wavenet, train_translator, load_wavenet) "
                             f"or its folder, got {type(model).__name__}")
    return model


def _audio(y, name, wm: WaveNetModel, sr):
    y = prepare(y, name=name, sr=wm.sr, orig_sr=sr if sr is not None else wm.sr)
    if np.max(np.abs(y)) > 1.0:
        raise ParameterError(f"{name} peaks at {np.max(np.abs(y)):.3g}: WaveNet models take audio in [-1, 1]")
    hop = wm.config.hop
    n = max(hop, -(-y.shape[0] // hop) * hop)
    return np.pad(y, (0, n - y.shape[0])), y.shape[0]


def _encode_fn():
    import jax
    from flax import nnx

    @jax.jit
    def run(graphdef, state, x):
        return nnx.merge(graphdef, state)(x[None])[0]

    return run


_ENCODE = None


def encode(model, y, *, sr: int | None = None) -> np.ndarray:
    """The latent codes (frames, latent) of one sound through the model's encoder (jitted)."""
    import jax.numpy as jnp
    from flax import nnx

    global _ENCODE
    wm = _check_model(model)
    x, _ = _audio(y, "the input", wm, sr)
    _ENCODE = _ENCODE or _encode_fn()
    graphdef, state = nnx.split(wm.model.encoder)
    return np.asarray(_ENCODE(graphdef, state, jnp.asarray(x)))


def _decode(wm: WaveNetModel, codes, domain, length, seed, temperature):
    import jax
    import jax.numpy as jnp

    from ..models.wavenet import generate, mu_law_decode

    dec = wm.model.decoder if wm.kind == "autoencoder" else wm.model.decoders[domain]
    q = generate(jax.random.key(seed), dec, jnp.asarray(codes)[None], temperature=temperature)
    return np.asarray(mu_law_decode(q[0]))[:length].astype(np.float32)


def reconstruct(model, y, *, sr: int | None = None, domain=None, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """``y`` encoded and generated back (by domain ``domain``'s decoder for a translator;
    default its first), at the model's rate, as long as ``y``."""
    wm = _check_model(model)
    x, n = _audio(y, "the input", wm, sr)
    d = None if wm.kind == "autoencoder" else wm.domain_index(0 if domain is None else domain)
    return _decode(wm, encode(wm, x), d, n, seed, temperature)


def translate(model, y, to_domain, *, sr: int | None = None, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """``y`` translated to domain ``to_domain`` (a name or an index): the shared encoder's
    codes generated by that domain's decoder (cached, sampled at ``temperature``).

    Returns float32 audio at the model's rate (``model.sr``), as long as ``y``."""
    wm = _check_model(model)
    if wm.kind != "translator":
        raise ParameterError("translate needs a translator (train_translator); an autoencoder only reconstructs")
    d = wm.domain_index(to_domain)
    x, n = _audio(y, "the input", wm, sr)
    return _decode(wm, encode(wm, x), d, n, seed, temperature)


def morph(model, a, b, *, alpha: float = 0.5, domain=None, sr: int | None = None, seed: int = 0,
          temperature: float = 1.0) -> np.ndarray:
    """Latent morphing: ``(1 - alpha) E(a) + alpha E(b)`` generated by the decoder (a
    translator's domain ``domain``, default the first). As long as the shorter input."""
    wm = _check_model(model)
    alpha = check_real("alpha", alpha, min=0.0, max=1.0)
    xa, na = _audio(a, "a", wm, sr)
    xb, nb = _audio(b, "b", wm, sr)
    za, zb = encode(wm, xa), encode(wm, xb)
    m = min(len(za), len(zb))
    d = None if wm.kind == "autoencoder" else wm.domain_index(0 if domain is None else domain)
    return _decode(wm, (1 - alpha) * za[:m] + alpha * zb[:m], d, min(na, nb), seed, temperature)


# ---------------------------------------------------------------------------------------------- files
def save_wavenet(wm: WaveNetModel, folder, *, crop: int | None = None, force: bool = False) -> Path:
    """Write ``folder/wavenet.json`` and the parameters to ``folder/model`` (Orbax; no pickle).

    The folder is jaxmusic's (marker ``.jaxmusic.json``, kind ``wavenet-autoencoder``
    or ``wavenet-translator``): an existing folder jaxmusic did not write is refused
    unless ``force``; a model saved there before is replaced once the new one is whole."""
    import orbax.checkpoint as ocp
    from flax import nnx

    wm = _check_model(wm)
    run = _claim(folder, wm.kind, force)

    def write(target):
        with ocp.StandardCheckpointer() as ck:
            ck.save(target.absolute(), nnx.state(wm.model, nnx.Param))

    run.replace("model", write)
    desc = {"kind": wm.kind, "config": wm.config.to_json(), "info": wm.info}
    if crop is not None:
        desc["crop"] = int(crop)
    if wm.kind == "translator":
        desc.update(domains=list(wm.domains), classifier_width=int(wm.model.classifier_width))
    write_json(run / _CONFIG, desc)
    return run.path


def load_wavenet(folder, *, preset: str | None = None, kind: str | None = None) -> WaveNetModel:
    """Read a model written by `train_wavenet`, `train_translator` or `save_wavenet`.

    ``preset`` and ``kind``, when given, must match the saved model: a model of
    another preset or kind raises `ParameterError` naming the difference."""
    import orbax.checkpoint as ocp
    from flax import nnx

    from ..models.wavenet import MusicTranslator, WaveNetAutoencoder, WaveNetConfig, wavenet_config

    folder = Path(folder).absolute()
    f = folder / _CONFIG
    if not f.is_file() or not (folder / "model").is_dir():
        raise ParameterError(f"{folder} holds no trained WaveNet model (no {_CONFIG} and model/): "
                             "train one with jaxmusic train-wavenet or jaxmusic train-translator")
    try:
        desc = json.loads(f.read_text())
        cfg = WaveNetConfig.from_json(desc["config"])
        saved_kind = desc["kind"]
    except (ValueError, KeyError, TypeError) as err:
        raise ParameterError(f"{f} is not a valid WaveNet model description: {err}") from err
    if kind is not None and kind != saved_kind:
        raise ParameterError(f"{folder} holds a WaveNet {saved_kind}, not a {kind}")
    if preset is not None and wavenet_config(preset) != cfg:
        want = wavenet_config(preset)
        diff = [f"{k.name}={getattr(cfg, k.name)!r} (preset {preset!r}: {getattr(want, k.name)!r})"
                for k in dataclasses.fields(cfg) if getattr(cfg, k.name) != getattr(want, k.name)]
        raise ParameterError(f"{folder} holds a model of another configuration than preset {preset!r}: "
                             + "; ".join(diff))
    if saved_kind == "translator":
        model = MusicTranslator(config=cfg, n_domains=len(desc["domains"]), classifier_width=desc["classifier_width"],
                                rngs=nnx.Rngs(0))
    elif saved_kind == "autoencoder":
        model = WaveNetAutoencoder(config=cfg, rngs=nnx.Rngs(0))
    else:
        raise ParameterError(f"{f}: unknown kind {saved_kind!r}")
    abstract = nnx.state(model, nnx.Param)
    try:
        with ocp.StandardCheckpointer() as ck:
            params = ck.restore(folder / "model", abstract)
    except Exception as err:
        raise ParameterError(f"{folder / 'model'} does not hold this model's parameters "
                             f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err
    nnx.update(model, params)
    return WaveNetModel(model=model, kind=saved_kind, domains=list(desc.get("domains", [])), info=desc.get("info", {}))
