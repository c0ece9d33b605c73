"""One interface to every cross-synthesis method: `hybridize`.

=============== ==================================================================
method          what the output ``C`` takes from the source ``A`` and the targets ``B``
=============== ==================================================================
``envelope``    ``A``'s fine structure and phase under ``B``'s cepstral spectral
                envelope (`envelope_hybrid`); as long as the longer input (several
                targets are joined, then cut to ``A``'s length).
``mosaic``      ``A``'s frames replaced by their nearest ``B`` frames in MFCC space
                (`mosaic`; every target joins the corpus); as long as ``A``.
``sinusoidal``  a morph: partial frequencies interpolated on a log scale and
                amplitudes linearly between ``A`` and ``B`` (`sinusoidal_morph`,
                ``alpha``, default 0.5).
``autoencoder`` ``A`` passed through the STFT-LSTM autoencoder trained on ``B``
                (`transfer`; ``model`` a trained `TimbreAutoencoder` or its folder,
                else one is trained on the targets); as long as ``A``.
``wavenet``      with a WaveNet model (``model``: a `WaveNetModel` or its folder, from
                ``jaxmusic train-translator`` or ``train-wavenet``): with a target,
                the latent morph of ``A`` and ``B`` (`wavenet.morph`, ``alpha``);
                without, ``A`` translated to domain ``to`` (default the last) by
                a translator, or reconstructed by an autoencoder.
=============== ==================================================================

Every input is mixed down to mono and resampled to ``sr`` (the autoencoder's
own rate when a model is given). The output is not normalised; the command
line scales it down if it would clip (`fit_peak`, with a warning).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._checks import ParameterError, check_choice, check_int
from ._common import prepare

__all__ = ["hybridize", "METHODS"]

METHODS = ("envelope", "mosaic", "sinusoidal", "autoencoder", "wavenet")


def _targets(targets) -> list:
    if hasattr(targets, "shape"):
        return [targets]
    targets = list(targets)
    if not targets:
        raise ParameterError("hybridize needs at least one target")
    return targets


#: options of `train_autoencoder` that `hybridize` passes on when it trains one
_AE_TRAIN = ("n_fft", "hop_length", "context", "lstm", "log", "encoder", "latent", "decoder", "seq_len",
             "steps", "batch_size", "learning_rate", "val_fraction", "patience", "seed", "out", "progress", "force")


def hybridize(source: Any, targets: Any, *, method: str = "envelope", sr: int | None = None,
              source_sr: int | None = None, target_sr: int | None = None, model=None, alpha: float = 0.5,
              **options) -> tuple[np.ndarray, int]:
    """Make a sound that inherits features from ``source`` and ``targets``.

    Parameters
    ----------
    source : (samples,) or (channels, samples) float
    targets : array or sequence of arrays
        The target sound(s): envelope donor (several are concatenated), mosaic
        corpus, morph partner (the first), or the autoencoder's training sounds.
        Ignored when an autoencoder ``model`` is given (pass ``[]``).
    method : {'envelope', 'mosaic', 'sinusoidal', 'autoencoder', 'wavenet'}
    sr : int, optional
        Rate to work at, and of the output. Default 22050, or a given
        autoencoder's own rate, or 16000 for an autoencoder trained here.
    source_sr, target_sr : int, optional
        Rates of the inputs; default ``sr``. Inputs at another rate are resampled to ``sr``.
    model : TimbreAutoencoder, WaveNetModel or path, optional
        For ``'autoencoder'``: a trained model (its rate wins over ``sr``,
        which must then be None or equal); default: train one on ``targets``.
        For ``'wavenet'`` (required): a trained WaveNet autoencoder or translator.
    alpha : float
        Morph position for ``'sinusoidal'`` and ``'wavenet'`` (0 = source, 1 = target).
    **options
        Passed to the method (``n_fft``, ``hop_length``, ``n_coeffs``, ``k``, ...);
        for an autoencoder trained here, `train_autoencoder`'s options
        (``steps``, ``out``, ``context``, ...).

    Returns
    -------
    (np.ndarray (samples,) float32, int)
        The output and its sampling rate.
    """
    method = check_choice("method", method, METHODS)
    if model is not None and method not in ("autoencoder", "wavenet"):
        raise ParameterError(f"model= is for method='autoencoder' or 'wavenet', not {method!r}")
    if method == "wavenet":
        return _wavenet(source, targets, sr=sr, source_sr=source_sr, target_sr=target_sr, model=model,
                        alpha=alpha, **options)
    if method == "autoencoder":
        from .autoencoder import TimbreAutoencoder, check_config, load_autoencoder, train_autoencoder, transfer

        if model is None:
            sr = 16000 if sr is None else check_int("sr", sr, min=1000)
            unknown = sorted(set(options) - set(_AE_TRAIN))
            if unknown:
                raise ParameterError(f"unknown options for training an autoencoder: {unknown}; "
                                     f"use any of {', '.join(_AE_TRAIN)}")
            targets = _targets(targets)
            sig = [prepare(t, name=f"target {i}", sr=sr, orig_sr=target_sr if target_sr is not None else sr)
                   for i, t in enumerate(targets)]
            model = train_autoencoder(sig, sr=sr, **options)
        else:
            if not isinstance(model, TimbreAutoencoder):
                model = load_autoencoder(model)
            check_config(model, sr=sr, **{k: options.pop(k) for k in ("n_fft", "hop_length") if k in options})
            if options:
                raise ParameterError(f"unknown options for a trained autoencoder: {sorted(options)}")
        rate = model.config.sr
        return transfer(model, source, sr=source_sr if source_sr is not None else rate), rate
    sr = 22050 if sr is None else check_int("sr", sr, min=1000)
    targets = _targets(targets)
    n_fft = options.get("n_fft", 2048)
    src = prepare(source, name="source", n_fft=n_fft, sr=sr, orig_sr=source_sr)
    tgt = [prepare(t, name=f"target {i}" if len(targets) > 1 else "target", sr=sr, orig_sr=target_sr)
           for i, t in enumerate(targets)]
    if method == "envelope":
        from .envelope import envelope_hybrid as fn
    elif method == "mosaic":
        from .mosaic import mosaic as fn
    else:
        from .sinusoidal import sinusoidal_morph as fn
    _check_options(method, fn, options)
    if method == "envelope":
        # several donors are joined; the result keeps the source's length (a melody of 45 notes as
        # the donor of a one-second note gives one second, the envelopes of its first notes)
        donor = np.concatenate(tgt)
        out = fn(src, donor[: max(len(src), n_fft)] if len(tgt) > 1 else donor, sr=sr, **options)
    elif method == "mosaic":
        out = fn(src, tgt, sr=sr, **options)
    else:
        out = fn(src, tgt[0], alpha, sr=sr, **options)
    return np.asarray(out, np.float32), sr


def _check_options(method: str, fn, options: dict) -> None:
    """Refuse options the method does not take, naming those it does."""
    import inspect

    taken = [name for name, p in inspect.signature(fn).parameters.items()
             if p.kind == p.KEYWORD_ONLY and name not in ("sr", "return_indices")]
    unknown = sorted(set(options) - set(taken))
    if unknown:
        import difflib

        hints = [f"{u!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, taken, n=1)) else repr(u)
                 for u in unknown]
        raise ParameterError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(hints)} for method "
                             f"{method!r}; its options are {', '.join(taken)}")


def _wavenet(source, targets, *, sr, source_sr, target_sr, model, alpha, to=None, seed=0, temperature=1.0,
             **options):
    from .wavenet import WaveNetModel, load_wavenet, morph, reconstruct, translate

    if options:
        raise ParameterError(f"unknown options for method 'wavenet': {sorted(options)}; use to, seed, temperature")
    if model is None:
        raise ParameterError("method 'wavenet' needs a trained model (model=folder of jaxmusic train-translator "
                             "or train-wavenet)")
    wm = model if isinstance(model, WaveNetModel) else load_wavenet(model)
    if sr is not None and check_int("sr", sr, min=1) != wm.sr:
        raise ParameterError(f"the WaveNet model works at {wm.sr} Hz; sr={sr} differs (pass sr=None)")
    rate = wm.sr
    kw = dict(seed=seed, temperature=temperature)
    targets = [] if targets is None or (not hasattr(targets, "shape") and len(targets) == 0) else _targets(targets)
    src_sr = source_sr if source_sr is not None else rate
    if targets:
        domain = None if wm.kind == "autoencoder" or to is None else to
        out = morph(wm, prepare(source, name="source", sr=rate, orig_sr=src_sr),
                    prepare(targets[0], name="target", sr=rate, orig_sr=target_sr if target_sr is not None else rate),
                    alpha=alpha, domain=domain, **kw)
    elif wm.kind == "translator":
        out = translate(wm, source, wm.domains[-1] if to is None else to, sr=src_sr, **kw)
    else:
        if to is not None:
            raise ParameterError("to= is for a translator; this WaveNet model is an autoencoder")
        out = reconstruct(wm, source, sr=src_sr, **kw)
    return np.asarray(out, np.float32), rate


def method_options(args: Sequence[str]) -> dict:
    """``KEY=VALUE`` strings (from the command line) as method options, values read as Python literals."""
    import ast

    out = {}
    for item in args:
        key, eq, value = item.partition("=")
        if not eq or not key.isidentifier():
            raise ParameterError(f"options read KEY=VALUE (e.g. n_fft=1024), got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def default_model_folder(output: str | Path) -> Path:
    """Where the command line keeps an autoencoder it trains for ``output``: ``OUT.autoencoder/``."""
    output = Path(output)
    return output.with_name(output.stem + ".autoencoder")
