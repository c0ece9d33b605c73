"""WaveNet autoencoders: NSynth's (Engel et al., 2017) and the Universal Music Translation Network (Mor et al., 2019).

A WaveNet autoencoder encodes a waveform to a slow latent sequence and decodes
it back sample by sample:

- **encoder** (`WaveNetEncoder`): a non-causal stack of dilated residual
  convolutions (ReLU, dilated convolution, ReLU, 1x1, residual sum), a 1x1 to
  ``latent`` channels, average-pooled by ``hop`` samples;
- **decoder** (`WaveNetDecoder`): a causal WaveNet on the previous samples,
  gated (tanh x sigmoid) residual layers with skip connections, every layer
  conditioned on the latent sequence repeated up to the audio rate; two 1x1
  layers on the summed skips (the second conditioned too) give 256-way logits
  over the mu-law quantised next sample. Trained by teacher forcing: the input
  is the signal itself shifted right by one sample.

`WaveNetAutoencoder` is the NSynth model: one encoder, one decoder.
`MusicTranslator` is Mor et al.'s: one shared encoder, one decoder per musical
domain and a `DomainClassifier` on the latent codes that the encoder learns to
confuse (training in `jaxmusic.synthesis.wavenet`).

Generation is autoregressive. `generate` keeps, for every causal convolution,
the last ``(kernel - 1) x dilation`` inputs in a ring buffer (the "fast WaveNet"
queues of Paine et al., 2016), so one sample costs one matrix product per tap
and layer instead of a pass over the receptive field; it runs as one
`jax.lax.scan` over time, `jax.vmap`-ed over the batch. `naive_generate`
recomputes the receptive field at every sample: the same numbers, the
reference for tests and `benchmarks/wavenet.py`.

Presets (`WAVENET_PRESETS`): ``"nsynth"`` is the paper's configuration at
16 kHz (61,804,048 parameters: `count_params`, equal to `expected_params`'s
formula); ``"tiny"`` (8 kHz, an 8-layer encoder and an 8-layer decoder of 32-64
channels, 136,904 parameters) trains on a CPU in minutes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .._checks import ParameterError, check_int

__all__ = [
    "WaveNetConfig", "WAVENET_PRESETS", "wavenet_config", "count_params", "expected_params",
    "mu_law_encode", "mu_law_decode", "decoder_inputs",
    "WaveNetEncoder", "WaveNetDecoder", "WaveNetAutoencoder", "DomainClassifier", "MusicTranslator",
    "generate", "naive_generate", "cached_logits",
]

QUANTIZATION = 256  #: mu-law classes of the output (mu = 255)


# ---------------------------------------------------------------------------------------------- config
@dataclasses.dataclass(frozen=True)
class WaveNetConfig:
    """Architecture of a WaveNet autoencoder (and of a translator's encoder and decoders).

    Attributes
    ----------
    sr : int
        Sampling rate the model is trained at (audio at other rates is resampled
        by the functions of `jaxmusic.synthesis.wavenet`, refused by the modules).
    encoder_layers, encoder_stages, encoder_width, encoder_kernel : int
        Non-causal encoder: ``encoder_layers`` residual layers of
        ``encoder_width`` channels, dilation ``2 ** (layer % encoder_stages)``,
        kernel ``encoder_kernel``.
    latent : int
        Channels of the latent code.
    hop : int
        Average-pooling of the code: one latent frame per ``hop`` samples.
    decoder_layers, decoder_stages, decoder_kernel : int
        Causal decoder layers, dilation ``2 ** (layer % decoder_stages)``.
    residual, skip : int
        Channels of the decoder's residual stream (its gates have twice as many)
        and of its skip connections.
    """

    sr: int = 16000
    encoder_layers: int = 30
    encoder_stages: int = 10
    encoder_width: int = 128
    encoder_kernel: int = 3
    latent: int = 16
    hop: int = 512
    decoder_layers: int = 30
    decoder_stages: int = 10
    decoder_kernel: int = 3
    residual: int = 512
    skip: int = 256

    def __post_init__(self):
        for f in dataclasses.fields(self):
            check_int(f.name, getattr(self, f.name), min=1000 if f.name == "sr" else 1)
        for name in ("encoder_kernel", "decoder_kernel"):
            if getattr(self, name) < 2:
                raise ParameterError(f"{name} must be at least 2, got {getattr(self, name)}")

    @property
    def receptive_field(self) -> int:
        """Samples the decoder's output at ``t`` depends on: ``t - receptive_field + 1`` to ``t``
        (of its shifted input: the samples before ``t``)."""
        k = self.decoder_kernel
        return 1 + (k - 1) * (1 + sum(2 ** (i % self.decoder_stages) for i in range(self.decoder_layers)))

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "WaveNetConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ParameterError(f"unknown WaveNet configuration fields {unknown}")
        return cls(**d)


#: NSynth's configuration (Engel et al. 2017, the "h512_bo16" model) and a CPU-sized one.
WAVENET_PRESETS = {
    "nsynth": WaveNetConfig(),
    "tiny": WaveNetConfig(sr=8000, encoder_layers=8, encoder_stages=8, encoder_width=32, latent=8, hop=64,
                          decoder_layers=8, decoder_stages=8, residual=32, skip=64),
}


def wavenet_config(preset: str = "tiny", **overrides) -> WaveNetConfig:
    """A preset of `WAVENET_PRESETS` with some fields replaced: ``wavenet_config("tiny", latent=16)``."""
    if preset not in WAVENET_PRESETS:
        raise ParameterError(f"unknown WaveNet preset {preset!r}: use one of {', '.join(WAVENET_PRESETS)}")
    return dataclasses.replace(WAVENET_PRESETS[preset], **overrides)


def expected_params(config: WaveNetConfig, n_decoders: int = 1, classifier: int | None = None,
                    n_domains: int | None = None) -> int:
    """Parameter count of the architecture, by formula (weights and biases of every layer).

    ``n_decoders`` decoders share the encoder; ``classifier`` is the width of a
    `DomainClassifier` over ``n_domains`` domains (a translator), None for none."""
    c = config
    conv = lambda k, i, o: k * i * o + o  # noqa: E731
    enc = (conv(c.encoder_kernel, 1, c.encoder_width)
           + c.encoder_layers * (conv(c.encoder_kernel, c.encoder_width, c.encoder_width)
                                 + conv(1, c.encoder_width, c.encoder_width))
           + conv(1, c.encoder_width, c.latent))
    r, s = c.residual, c.skip
    dec = (conv(c.decoder_kernel, 1, r) + conv(1, r, s)
           + c.decoder_layers * (conv(c.decoder_kernel, r, 2 * r) + conv(1, c.latent, 2 * r) + conv(1, r, r) + conv(1, r, s))
           + conv(1, s, s) + conv(1, c.latent, s) + conv(1, s, QUANTIZATION))
    cls = 0
    if classifier is not None:
        w = classifier
        cls = conv(3, c.latent, w) + 2 * conv(3, w, w) + conv(1, w, n_domains)
    return enc + n_decoders * dec + cls


def count_params(model: nnx.Module) -> int:
    """Trainable parameters of a model (its `nnx.Param` leaves)."""
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param))))


# ---------------------------------------------------------------------------------------------- mu-law
def mu_law_encode(x: Any, mu: int = QUANTIZATION - 1) -> jax.Array:
    """Mu-law quantisation of audio in [-1, 1] to classes ``0 .. mu`` (int32).

    ``librosa.mu_compress(x, mu=mu, quantize=True) + (mu + 1) // 2``: the
    companded value ``sign(x) log(1 + mu |x|) / log(1 + mu)`` in ``mu + 1``
    equal bins (librosa gives exactly 1.0 a class of its own, ``mu + 1``;
    here it joins the top class)."""
    x = jnp.clip(jnp.asarray(x, jnp.float32), -1.0, 1.0)
    comp = jnp.sign(x) * jnp.log1p(mu * jnp.abs(x)) / jnp.log1p(mu)
    edges = jnp.linspace(-1.0, 1.0, mu + 1)
    return (jnp.searchsorted(edges, comp, side="left")).astype(jnp.int32).clip(0, mu)


def mu_law_decode(q: Any, mu: int = QUANTIZATION - 1) -> jax.Array:
    """Audio from mu-law classes ``0 .. mu``: ``librosa.mu_expand(q - (mu + 1) // 2, mu=mu, quantize=True)``."""
    y = (jnp.asarray(q).astype(jnp.float32) - (mu + 1) // 2) * (2.0 / (mu + 1))
    return jnp.sign(y) / mu * jnp.expm1(jnp.abs(y) * jnp.log1p(mu))


def _scaled(q: jax.Array) -> jax.Array:
    """A class as the decoder's input value in [-1, 1): (q - 128) / 128, as NSynth feeds it."""
    return (q.astype(jnp.float32) - QUANTIZATION // 2) / (QUANTIZATION // 2)


def decoder_inputs(q: jax.Array) -> jax.Array:
    """Teacher forcing: the decoder's input at ``t`` is sample ``t - 1`` (0 before the start)."""
    v = _scaled(q)
    return jnp.pad(v, [(0, 0)] * (v.ndim - 1) + [(1, 0)])[..., :-1]


# ---------------------------------------------------------------------------------------------- modules
def _conv(i, o, k, rngs, dilation=1, causal=True):
    pad = (k - 1) * dilation
    padding = [(pad, 0)] if causal else [(pad // 2, pad - pad // 2)]
    return nnx.Conv(i, o, kernel_size=(k,), kernel_dilation=(dilation,), padding=padding, rngs=rngs)


def _check_audio(x, name: str, hop: int) -> None:
    shape = tuple(x.shape)
    if len(shape) != 2:
        raise ParameterError(f"{name} must have shape (batch, samples), got {shape}")
    if shape[1] == 0 or shape[1] % hop:
        raise ParameterError(f"{name} has {shape[1]} samples: the model needs a positive multiple of its hop "
                             f"({hop} samples per latent frame); pad or crop it")


class WaveNetEncoder(nnx.Module):
    """Non-causal dilated residual encoder: (batch, samples) audio -> (batch, samples // hop, latent)."""

    def __init__(self, *, config: WaveNetConfig, rngs: nnx.Rngs):
        c = self.config = config
        self.start = _conv(1, c.encoder_width, c.encoder_kernel, rngs, causal=False)
        self.dilated = nnx.List([_conv(c.encoder_width, c.encoder_width, c.encoder_kernel, rngs,
                                       dilation=2 ** (i % c.encoder_stages), causal=False)
                                 for i in range(c.encoder_layers)])
        self.res = nnx.List([nnx.Linear(c.encoder_width, c.encoder_width, rngs=rngs) for _ in range(c.encoder_layers)])
        self.bottleneck = nnx.Linear(c.encoder_width, c.latent, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        c = self.config
        _check_audio(x, "the encoder's input", c.hop)
        h = self.start(x[..., None])
        for dil, res in zip(self.dilated, self.res):
            h = h + res(nnx.relu(dil(nnx.relu(h))))
        z = self.bottleneck(h)
        b, n, d = z.shape
        return z.reshape(b, n // c.hop, c.hop, d).mean(axis=2)


class WaveNetDecoder(nnx.Module):
    """Causal gated WaveNet conditioned on a latent sequence: logits of each next sample.

    ``decoder(inputs, codes)``: ``inputs`` (batch, samples) are the previous
    samples scaled to [-1, 1) (`decoder_inputs`), ``codes`` (batch, samples //
    hop, latent); returns (batch, samples, 256) logits.
    """

    def __init__(self, *, config: WaveNetConfig, rngs: nnx.Rngs):
        c = self.config = config
        r, s = c.residual, c.skip
        self.start = _conv(1, r, c.decoder_kernel, rngs)
        self.skip_start = nnx.Linear(r, s, rngs=rngs)
        self.dilated = nnx.List([_conv(r, 2 * r, c.decoder_kernel, rngs, dilation=2 ** (i % c.decoder_stages))
                                 for i in range(c.decoder_layers)])
        self.cond = nnx.List([nnx.Linear(c.latent, 2 * r, rngs=rngs) for _ in range(c.decoder_layers)])
        self.res = nnx.List([nnx.Linear(r, r, rngs=rngs) for _ in range(c.decoder_layers)])
        self.skip = nnx.List([nnx.Linear(r, s, rngs=rngs) for _ in range(c.decoder_layers)])
        self.out1 = nnx.Linear(s, s, rngs=rngs)
        self.cond_out1 = nnx.Linear(c.latent, s, rngs=rngs)
        self.logits = nnx.Linear(s, QUANTIZATION, rngs=rngs)

    def _upsample(self, z: jax.Array) -> jax.Array:
        return jnp.repeat(z, self.config.hop, axis=1)

    def __call__(self, inputs: jax.Array, codes: jax.Array) -> jax.Array:
        c = self.config
        _check_audio(inputs, "the decoder's input", c.hop)
        if codes.ndim != 3 or codes.shape[0] != inputs.shape[0] or codes.shape[2] != c.latent \
                or codes.shape[1] * c.hop != inputs.shape[1]:
            raise ParameterError(f"codes must have shape (batch, samples // hop, latent) = "
                                 f"({inputs.shape[0]}, {inputs.shape[1] // c.hop}, {c.latent}), got {tuple(codes.shape)}")
        h = self.start(inputs[..., None])
        s = self.skip_start(h)
        for dil, cond, res, skip in zip(self.dilated, self.cond, self.res, self.skip):
            d = dil(h) + self._upsample(cond(codes))
            m = jnp.tanh(d[..., :c.residual]) * jax.nn.sigmoid(d[..., c.residual:])
            h = h + res(m)
            s = s + skip(m)
        s = self.out1(nnx.relu(s)) + self._upsample(self.cond_out1(codes))
        return self.logits(nnx.relu(s))


class WaveNetAutoencoder(nnx.Module):
    """The NSynth WaveNet autoencoder (Engel et al., 2017).

    Parameters
    ----------
    config : WaveNetConfig or str
        A configuration or the name of a preset (``"nsynth"``, ``"tiny"``).
    rngs : nnx.Rngs, keyword-only

    Examples
    --------
    >>> ae = WaveNetAutoencoder(config="tiny", rngs=nnx.Rngs(0))
    >>> q = mu_law_encode(audio)                 # audio: (batch, samples), samples % 64 == 0
    >>> ae(audio).shape                          # teacher-forced logits of every sample
    (batch, samples, 256)
    >>> codes = ae.encode(audio)                 # (batch, samples // 64, 8)
    >>> out = mu_law_decode(generate(jax.random.key(0), ae.decoder, codes))
    """

    def __init__(self, *, config: WaveNetConfig | str = "tiny", rngs: nnx.Rngs):
        self.config = wavenet_config(config) if isinstance(config, str) else config
        if not isinstance(self.config, WaveNetConfig):
            raise ParameterError(f"config must be a WaveNetConfig or a preset name, got {config!r}")
        self.encoder = WaveNetEncoder(config=self.config, rngs=rngs)
        self.decoder = WaveNetDecoder(config=self.config, rngs=rngs)

    def encode(self, x: jax.Array) -> jax.Array:
        """(batch, samples) audio in [-1, 1] -> (batch, samples // hop, latent) codes."""
        return self.encoder(x)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Teacher-forced logits (batch, samples, 256) of the mu-law classes of ``x`` itself."""
        return self.decoder(decoder_inputs(mu_law_encode(x)), self.encoder(x))


class DomainClassifier(nnx.Module):
    """Mor et al.'s domain-confusion network: three 1-d convolutions (kernel 3, ELU) on the
    latent codes, a 1x1 to ``n_domains`` logits, averaged over time."""

    def __init__(self, *, latent: int, n_domains: int, width: int = 64, rngs: nnx.Rngs):
        self.convs = nnx.List([_conv(latent, width, 3, rngs, causal=False), _conv(width, width, 3, rngs, causal=False),
                               _conv(width, width, 3, rngs, causal=False)])
        self.out = nnx.Linear(width, n_domains, rngs=rngs)

    def __call__(self, codes: jax.Array) -> jax.Array:
        h = codes
        for conv in self.convs:
            h = nnx.elu(conv(h))
        return self.out(h).mean(axis=1)


class MusicTranslator(nnx.Module):
    """The Universal Music Translation Network (Mor et al., 2019).

    One shared `WaveNetEncoder`, one `WaveNetDecoder` per domain (``decoders[j]``
    reconstructs domain ``j``), and a `DomainClassifier` on the codes, which the
    encoder is trained to confuse (`jaxmusic.synthesis.wavenet.train_translator`).

    Parameters
    ----------
    config : WaveNetConfig or str
    n_domains : int, keyword-only
        At least 2.
    classifier_width : int, keyword-only
        Channels of the domain classifier (default 64).
    rngs : nnx.Rngs, keyword-only
    """

    def __init__(self, *, config: WaveNetConfig | str = "tiny", n_domains: int, classifier_width: int = 64,
                 rngs: nnx.Rngs):
        self.config = wavenet_config(config) if isinstance(config, str) else config
        self.n_domains = check_int("n_domains", n_domains, min=2)
        self.classifier_width = check_int("classifier_width", classifier_width, min=1)
        self.encoder = WaveNetEncoder(config=self.config, rngs=rngs)
        self.decoders = nnx.List([WaveNetDecoder(config=self.config, rngs=rngs) for _ in range(self.n_domains)])
        self.classifier = DomainClassifier(latent=self.config.latent, n_domains=self.n_domains, width=classifier_width, rngs=rngs)

    def check_domain(self, domain) -> int:
        if isinstance(domain, bool) or not isinstance(domain, (int, np.integer)) or not 0 <= int(domain) < self.n_domains:
            raise ParameterError(f"domain must be an integer in [0, {self.n_domains}) (this translator has "
                                 f"{self.n_domains} domains), got {domain!r}")
        return int(domain)

    def encode(self, x: jax.Array) -> jax.Array:
        """(batch, samples) -> (batch, samples // hop, latent), shared by every domain."""
        return self.encoder(x)

    def decode(self, inputs: jax.Array, codes: jax.Array, domain) -> jax.Array:
        """Teacher-forced logits of domain ``domain``'s decoder.

        ``domain`` is an int, or a traced int32 scalar (a training step's batch
        of one domain): then the decoders' parameters are stacked and the
        chosen one's gathered, so that one decoder runs (its gradient reaches
        that decoder only); `jax.lax.switch` over the decoders measured 3.8x slower
        under `jax.grad` on CPU."""
        if isinstance(domain, (int, np.integer)):
            return self.decoders[self.check_domain(domain)](inputs, codes)
        graphdef, _ = nnx.split(self.decoders[0])
        states = [nnx.state(dec) for dec in self.decoders]
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *states)
        index = jnp.clip(jnp.asarray(domain, jnp.int32), 0, self.n_domains - 1)
        return nnx.merge(graphdef, jax.tree.map(lambda a: a[index], stacked))(inputs, codes)

    def __call__(self, x: jax.Array, domain) -> jax.Array:
        """Teacher-forced logits (batch, samples, 256) of ``x`` through domain ``domain``'s decoder."""
        return self.decode(decoder_inputs(mu_law_encode(x)), self.encoder(x), domain)


# ---------------------------------------------------------------------------------------------- generation
def _arrays(decoder: WaveNetDecoder) -> dict:
    """The decoder's weights as plain arrays, per-layer ones stacked where shapes agree."""
    def lin(m):
        return m.kernel[...], m.bias[...]

    return {
        "start": (decoder.start.kernel[...][:, 0, :], decoder.start.bias[...]),  # (k, R), (R,)
        "skip_start": lin(decoder.skip_start),
        "dilated": [(m.kernel[...], m.bias[...]) for m in decoder.dilated],     # (k, R, 2R), (2R,)
        "cond": [lin(m) for m in decoder.cond],
        "res": [lin(m) for m in decoder.res],
        "skip": [lin(m) for m in decoder.skip],
        "out1": lin(decoder.out1), "cond_out1": lin(decoder.cond_out1), "logits": lin(decoder.logits),
    }


def _step_fn(w: dict, config: WaveNetConfig):
    """One sample of the decoder with ring-buffer caches: (caches, t, input value, cond row) -> logits."""
    c = config
    k = c.decoder_kernel
    dil = [2 ** (i % c.decoder_stages) for i in range(c.decoder_layers)]

    def tap(buf, t, lag):  # the input ``lag`` samples ago, from a ring buffer of len (k - 1) * d
        return jax.lax.dynamic_index_in_dim(buf, (t - lag) % buf.shape[0], axis=0, keepdims=False)

    def push(buf, t, v):
        return jax.lax.dynamic_update_index_in_dim(buf, v, t % buf.shape[0], axis=0)

    def step(caches, t, v, cond):
        # cond: the current latent frame's per-layer condition rows, precomputed
        start_buf, bufs = caches
        K, b = w["start"]
        h = b + v * K[k - 1] + sum(tap(start_buf, t, (k - 1 - j)) * K[j] for j in range(k - 1))
        start_buf = push(start_buf, t, v)
        s = h @ w["skip_start"][0] + w["skip_start"][1]
        new = []
        for i, d in enumerate(dil):
            K, b = w["dilated"][i]
            z = b + cond["layers"][i] + h @ K[k - 1]
            for j in range(k - 1):
                z = z + tap(bufs[i], t, (k - 1 - j) * d) @ K[j]
            new.append(push(bufs[i], t, h))
            m = jnp.tanh(z[:c.residual]) * jax.nn.sigmoid(z[c.residual:])
            h = h + m @ w["res"][i][0] + w["res"][i][1]
            s = s + m @ w["skip"][i][0] + w["skip"][i][1]
        s = jax.nn.relu(s) @ w["out1"][0] + w["out1"][1] + cond["out1"]
        logits = jax.nn.relu(s) @ w["logits"][0] + w["logits"][1]
        return (start_buf, new), logits

    def init():
        return (jnp.zeros(((k - 1),), jnp.float32),
                [jnp.zeros(((k - 1) * d, c.residual), jnp.float32) for d in dil])

    return step, init


def _conditions(w: dict, codes: jax.Array) -> dict:
    """Per-frame condition rows of one sequence's codes (frames, latent)."""
    return {"layers": jnp.stack([codes @ K + b for K, b in w["cond"]], axis=1),   # (frames, L, 2R)
            "out1": codes @ w["cond_out1"][0] + w["cond_out1"][1]}                 # (frames, S)


def _scan_one(w, config, codes, key, temperature, forced):
    """Generate (or teacher-force, when ``forced`` holds the classes) one sequence of len(codes) * hop."""
    step, init = _step_fn(w, config)
    cond = _conditions(w, codes)
    n = codes.shape[0] * config.hop

    def body(carry, t):
        caches, prev = carry
        frame = t // config.hop
        row = {"layers": cond["layers"][frame], "out1": cond["out1"][frame]}
        caches, logits = step(caches, t, _scaled(prev), row)
        if forced is None:
            nxt = jax.random.categorical(jax.random.fold_in(key, t), logits / temperature) if temperature > 0 \
                else jnp.argmax(logits)
        else:
            nxt = forced[t]
        return (caches, nxt.astype(jnp.int32)), (nxt.astype(jnp.int32), logits)

    start = jnp.asarray(QUANTIZATION // 2, jnp.int32)  # "previous sample" before the start: 0.0 (scaled)
    _, (samples, logits) = jax.lax.scan(body, (init(), start), jnp.arange(n))
    return samples, logits


def _check_codes(codes, config: WaveNetConfig):
    codes = jnp.asarray(codes, jnp.float32)
    if codes.ndim != 3 or codes.shape[2] != config.latent or codes.shape[1] == 0:
        raise ParameterError(f"codes must have shape (batch, frames, {config.latent}) with frames > 0, "
                             f"got {tuple(codes.shape)}")
    return codes


def _keys(key, n):
    """One key per sequence: ``key`` split ``n`` ways, or ``key`` itself when it holds ``n`` keys."""
    return key if key.ndim == 1 else jax.random.split(key, n)


def _check_key(key, n):
    if not isinstance(key, jax.Array) or not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) \
            or key.shape not in ((), (n,)):
        raise ParameterError(f"key must be a jax.random.key or {n} of them (one per sequence), got "
                             f"{getattr(key, 'shape', type(key).__name__)} {getattr(key, 'dtype', '')}")
    return key


@functools.partial(jax.jit, static_argnames=("config", "temperature"))
def _generate_jit(w, codes, key, *, config, temperature):
    keys = _keys(key, codes.shape[0])
    return jax.vmap(lambda z, k: _scan_one(w, config, z, k, temperature, None)[0])(codes, keys)


def generate(key: jax.Array, decoder: WaveNetDecoder, codes: Any, *, temperature: float = 1.0) -> jax.Array:
    """Sample audio classes from the decoder, conditioned on ``codes``, with cached convolutions.

    Parameters
    ----------
    key : jax.Array
        A PRNG key (`jax.random.key`), split into one per sequence, or one
        key per sequence, shape (batch,); sample ``t`` of a sequence draws
        with ``fold_in(its key, t)``, so a sequence's samples do not depend on
        the others in its batch.
    decoder : WaveNetDecoder
    codes : (batch, frames, latent) float
        Latent sequences (an encoder's output, or an interpolation of two).
    temperature : float
        Softmax temperature of the sampling; 0 takes the most likely class.

    Returns
    -------
    (batch, frames * hop) int32
        Mu-law classes; `mu_law_decode` turns them into audio.
    """
    if not isinstance(decoder, WaveNetDecoder):
        raise ParameterError(f"decoder must be a WaveNetDecoder, got {type(decoder).__name__}")
    temperature = float(temperature)
    if not math.isfinite(temperature) or temperature < 0:
        raise ParameterError(f"temperature must be a finite number >= 0, got {temperature}")
    codes = _check_codes(codes, decoder.config)
    key = _check_key(key, codes.shape[0])
    return _generate_jit(_arrays(decoder), codes, key, config=decoder.config, temperature=temperature)


@functools.partial(jax.jit, static_argnames=("config",))
def _cached_logits_jit(w, codes, classes, *, config):
    return jax.vmap(lambda z, q: _scan_one(w, config, z, None, 1.0, q)[1])(codes, classes)


def cached_logits(decoder: WaveNetDecoder, codes: Any, classes: Any) -> jax.Array:
    """Teacher-forced logits computed sample by sample through the generation caches.

    The same numbers as ``decoder(decoder_inputs(classes), codes)`` (the test of
    the cache), one `lax.scan` step per sample: (batch, samples, 256)."""
    codes = _check_codes(codes, decoder.config)
    classes = jnp.asarray(classes, jnp.int32)
    if classes.shape != (codes.shape[0], codes.shape[1] * decoder.config.hop):
        raise ParameterError(f"classes must have shape (batch, frames * hop) = "
                             f"({codes.shape[0]}, {codes.shape[1] * decoder.config.hop}), got {tuple(classes.shape)}")
    return _cached_logits_jit(_arrays(decoder), codes, classes, config=decoder.config)


@functools.partial(jax.jit, static_argnames=("config", "temperature"))
def _naive_jit(graphdef, state, codes, key, *, config, temperature):
    decoder = nnx.merge(graphdef, state)
    n = codes.shape[1] * config.hop
    up = config.hop
    r = config.receptive_field
    keys = _keys(key, codes.shape[0])

    win = min(n, -(-r // up) * up + up)  # whole latent frames covering the receptive field, and one more

    def one(z, k):
        def body(q, t):
            # the decoder over a window that ends within sample t's latent frame: the receptive field
            # recomputed for every sample (at the start, the first window: the model's own zero padding)
            lo = jnp.clip(-(-(t + 1) // up) * up - win, 0, n - win)
            window = jax.lax.dynamic_slice(q, (lo,), (win,))
            zw = jax.lax.dynamic_slice(z, (lo // up, 0), (win // up, z.shape[1]))
            logits = decoder(decoder_inputs(window)[None], zw[None])[0, t - lo]
            nxt = jax.random.categorical(jax.random.fold_in(k, t), logits / temperature) if temperature > 0 \
                else jnp.argmax(logits)
            return q.at[t].set(nxt.astype(jnp.int32)), None

        q, _ = jax.lax.scan(body, jnp.full((n,), QUANTIZATION // 2, jnp.int32), jnp.arange(n))
        return q

    return jax.vmap(one)(codes, keys)


def naive_generate(key: jax.Array, decoder: WaveNetDecoder, codes: Any, *, temperature: float = 1.0) -> jax.Array:
    """`generate` without caches: every sample runs the decoder over a window of whole latent
    frames that covers its receptive field (the slow reference; same samples)."""
    codes = _check_codes(codes, decoder.config)
    key = _check_key(key, codes.shape[0])
    graphdef, state = nnx.split(decoder)
    return _naive_jit(graphdef, state, codes, key, config=decoder.config, temperature=float(temperature))
