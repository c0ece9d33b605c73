"""The STFT autoencoder with input context and an LSTM layer (Gabrielli, Cella et al., 2017).

A frame-wise autoencoder of STFT magnitudes for timbre transfer: the input at
frame ``t`` is a *context* of ``C`` consecutive magnitude frames (``t - C + 1``
to ``t``), a dense encoder compresses it, a hidden layer gives the latent code,
and a dense decoder maps the code to the magnitude of frame ``t``. The two
modifications the seed credits for making the approach work are options, so
that "a simple STFT autoencoder did not get quite close" can be rerun:

- ``context=1`` feeds the current frame alone (no input context);
- ``lstm=False`` makes the hidden layer dense (no memory across frames); with
  ``lstm=True`` it is an LSTM that runs along the frames of a sequence.

The module only maps feature frames to feature frames; the spectral front end
(normalisation, log compression, phase and energy) lives in
`jaxmusic.synthesis.autoencoder`, which trains it with `jaxmusic.train.minimize`.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from .._checks import ParameterError, check_int

__all__ = ["STFTAutoencoder"]


def _widths(name: str, value) -> tuple[int, ...]:
    if isinstance(value, (int, str)) or not hasattr(value, "__iter__"):
        raise ParameterError(f"{name} must be a sequence of layer widths, e.g. (256,), got {value!r}")
    return tuple(check_int(f"{name}[{i}]", w, min=1) for i, w in enumerate(value))


class STFTAutoencoder(nnx.Module):
    """Context frames -> dense encoder -> LSTM (or dense) code -> dense decoder -> one frame.

    Parameters
    ----------
    n_bins : int, keyword-only
        Frequency bins per frame (``1 + n_fft // 2``).
    context : int, keyword-only
        Frames of input context ``C`` (default 4; 1 = none).
    encoder : sequence of int, keyword-only
        Widths of the dense encoder layers (default ``(256,)``), ReLU.
    latent : int, keyword-only
        Width of the hidden layer, the latent code (default 128).
    lstm : bool, keyword-only
        The hidden layer is an LSTM along time (default) or a dense layer
        (tanh, like the LSTM's output range).
    decoder : sequence of int, keyword-only
        Widths of the dense decoder layers (default ``(256,)``), ReLU; the output
        layer has ``n_bins`` units and a softplus (magnitudes are non-negative).
    rngs : nnx.Rngs, keyword-only

    Examples
    --------
    >>> ae = STFTAutoencoder(n_bins=513, context=4, rngs=nnx.Rngs(0))
    >>> ae(frames).shape               # frames: (batch, time, 4, 513)
    (batch, time, 513)
    """

    def __init__(self, *, n_bins: int, context: int = 4, encoder: Sequence[int] = (256,), latent: int = 128,
                 lstm: bool = True, decoder: Sequence[int] = (256,), rngs: nnx.Rngs):
        self.n_bins = check_int("n_bins", n_bins, min=1)
        self.context = check_int("context", context, min=1)
        self.latent = check_int("latent", latent, min=1)
        self.encoder_widths = _widths("encoder", encoder)
        self.decoder_widths = _widths("decoder", decoder)
        if not isinstance(lstm, bool):
            raise ParameterError(f"lstm must be True or False, got {lstm!r}")
        self.lstm = lstm
        widths = (self.context * self.n_bins,) + self.encoder_widths
        self.encoder = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])
        if lstm:
            self.hidden = nnx.RNN(nnx.OptimizedLSTMCell(widths[-1], self.latent, rngs=rngs), rngs=False)
        else:
            self.hidden = nnx.Linear(widths[-1], self.latent, rngs=rngs)
        widths = (self.latent,) + self.decoder_widths + (self.n_bins,)
        self.decoder = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])

    def _check(self, frames):
        shape = tuple(frames.shape)
        if len(shape) != 4 or shape[2:] != (self.context, self.n_bins):
            raise ParameterError(f"frames must have shape (batch, time, {self.context}, {self.n_bins}) "
                                 f"(context {self.context}, {self.n_bins} bins), got {shape}")

    def encode(self, frames: jax.Array) -> jax.Array:
        """Latent codes of context frames.

        Parameters
        ----------
        frames : (batch, time, context, n_bins) float

        Returns
        -------
        (batch, time, latent) float
        """
        self._check(frames)
        h = frames.reshape(frames.shape[:2] + (-1,))
        for layer in self.encoder:
            h = nnx.relu(layer(h))
        if not self.lstm:
            return jnp.tanh(self.hidden(h))
        zero = jnp.zeros((h.shape[0], self.latent), h.dtype)  # the LSTM starts from rest: (cell, hidden) = 0
        return self.hidden(h, initial_carry=(zero, zero))

    def decode(self, codes: jax.Array) -> jax.Array:
        """Frames from latent codes: (batch, time, latent) -> (batch, time, n_bins), non-negative."""
        h = codes
        for layer in self.decoder[:-1]:
            h = nnx.relu(layer(h))
        return nnx.softplus(self.decoder[-1](h))

    def __call__(self, frames: jax.Array) -> jax.Array:
        """(batch, time, context, n_bins) -> (batch, time, n_bins): each frame's reconstruction."""
        return self.decode(self.encode(frames))
