"""Property-based tests of every public entry point on edge-case and bad input (Hypothesis).

The property, for every call: it either raises a `jaxmusic.JaxMusicError` subclass whose
message names the offending value (its dtype, its shape or length, how many NaN/inf
values it holds, its peak, or the file), or it returns a finite result of the
documented shape and dtype -- and a signal shorter than one frame comes with a
`jaxmusic.JaxMusicWarning` where librosa warns. A valid input must not be refused, and
a bad one (wrong dtype, NaN/inf, channels-last or too short) must not be accepted.

What is tried (the counts are the constants below, for the README): 28 entry points
(`ENTRY_POINTS`) and 32 input kinds (`INPUT_KINDS`): 7 dtypes, 5 layouts, 4 lengths
and 6 value kinds, combined (840 array inputs per entry point to draw from), and 10
kinds of file for `load`:

- `ENTRY_POINTS`: the transforms (`Scattering1D`, `TimeFrequencyScattering`,
  `SpiralScattering`), the features (functions and pytrees: mel, MFCC, CQT, VQT,
  scalogram, decibels), the Fourier transforms (`dft`, `idft`, `frame`, `stft`,
  `istft`), the synthesis functions (`cepstral_envelope`, `envelope_hybrid` as source
  and as target, `mosaic`, `sinusoidal_analysis`, `_synthesis`, `_model`, `_morph`) and
  the audio functions (`validate`, `to_float`, and `load` on files written here);
- `INPUT_KINDS`: arrays of `DTYPES` x `LAYOUTS` x `LENGTHS` x `VALUES`, and the
  `FILE_KINDS` for `load` (generated, corrupt, empty, truncated and missing files).

Speed: small configurations (``Scattering1D(J=3, shape=256)``, ``n_fft=64``), four
lengths and five layouts per entry point so that few programs are compiled,
``derandomize=True`` (the same examples on every run) and a module-level time budget,
`BUDGET_S` of CPU time, past which examples return at once (measured: the whole
file in about 45 s on one core, `taskset -c 1`, inside the budget; 26 examples per
entry point, 6 of them fixed with ``@example``).
"""

from __future__ import annotations

import dataclasses
import re
import time
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import jaxmusic
from jaxmusic import JaxMusicError, JaxMusicWarning, audio, features, fourier, synthesis
from jaxmusic.synthesis import Partials

START = time.process_time()
#: CPU seconds of examples for the whole module (this process's, so that other work on
#: the machine does not eat into it); later examples return at once.
BUDGET_S = 55.0

DTYPES = ("float16", "bfloat16", "float32", "float64", "int16", "bool", "complex64")
LAYOUTS = ("mono", "batch", "empty_batch", "channels_last", "extra_batch")
#: lengths: empty, one sample, shorter than a frame (and odd), long enough (per entry point)
LENGTHS = ("zero", "one", "short_odd", "valid")
VALUES = ("normal", "zeros", "nan", "inf", "huge", "denormal")
FILE_KINDS = ("pcm16", "pcm24_flac", "float", "float_nan", "zero_frames", "zero_bytes",
              "truncated", "random_bytes", "missing", "directory")
VALID_FILES = ("pcm16", "pcm24_flac", "float")
#: distinct input kinds tried (each dimension's values; arrays combine them)
INPUT_KINDS = len(DTYPES) + len(LAYOUTS) + len(LENGTHS) + len(VALUES) + len(FILE_KINDS)


def _over_budget() -> bool:
    if time.process_time() - START > BUDGET_S:
        event("over the module's time budget: not run")
        return True
    return False


SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# --------------------------------------------------------------------------- inputs


def make_array(dtype: str, shape: tuple, values: str, seed: int):
    """An array of ``shape`` and ``dtype`` holding ``values`` (a few NaN/inf for "nan"/"inf")."""
    rng = np.random.default_rng(seed)
    x = 0.5 * rng.standard_normal(shape)
    if values == "zeros":
        x = np.zeros(shape)
    elif values == "huge":
        x = 1e30 * x
    elif values == "denormal":
        x = 1e-40 * x
    elif values in ("nan", "inf") and x.size:
        flat = x.reshape(-1)
        where = rng.choice(flat.size, size=min(3, flat.size), replace=False)
        flat[where] = np.nan if values == "nan" else np.inf * np.sign(rng.standard_normal(where.size))
    if dtype == "int16":
        return np.clip(np.nan_to_num(x * 2**14), -(2**15), 2**15 - 1).astype(np.int16)
    if dtype == "bool":
        return x > 0
    if dtype == "complex64":
        with np.errstate(invalid="ignore"):  # inf * 0.5j: nan + inf j, still non-finite
            return (x + 0.5j * x).astype(np.complex64)
    if dtype == "bfloat16":
        return jnp.asarray(x, jnp.bfloat16)
    with np.errstate(over="ignore"):
        return x.astype(dtype)


def nonfinite(x) -> int:
    a = np.asarray(x)
    if a.dtype.kind in "biu" or a.size == 0:
        return 0
    a = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
    return int(a.size - np.count_nonzero(np.isfinite(a)))


def peak(x) -> float:
    a = np.asarray(x)
    if a.size == 0 or a.dtype.kind == "b":
        return 0.0
    a = np.abs(a.astype(np.complex128 if a.dtype.kind == "c" else np.float64))
    return float(np.max(np.where(np.isfinite(a), a, 0.0)))


def standard_shape(layout: str, n: int) -> tuple:
    return {"mono": (n,), "batch": (2, n), "empty_batch": (0, n), "channels_last": (n, 2),
            "extra_batch": (2, 1, n)}[layout]


# ---------------------------------------------------------------------- entry points


@dataclasses.dataclass(frozen=True)
class Case:
    """How one entry point takes a signal and what it documents it returns.

    ``call(x)`` runs it; ``out(shape)`` is the documented output shape (a pytree of
    tuples) for an accepted input shape; ``valid`` a length it accepts; ``frame`` its
    frame (shorter signals warn when ``warns_short``; channels-last audio is a last axis
    shorter than ``frame`` with axis -2 at least that long); ``min_length`` the shortest
    last axis it accepts; ``fixed`` whether the last axis must be exactly ``valid``;
    ``audio`` whether it takes ``(samples,)`` or ``(channels, samples)`` only, empty
    refused (`jaxmusic.audio.validate`'s rules); ``dtypes`` the non-real dtypes it accepts;
    ``bad_layouts`` the layouts it must refuse whatever the length.
    """

    name: str
    call: Callable[[Any], Any]
    out: Callable[[tuple], Any]
    valid: int
    frame: int = 1
    min_length: int = 1
    fixed: bool = False
    audio: bool = False
    warns_short: bool = False
    dtypes: tuple = ()
    complex_out: Any = False  # True, False, or "same" (complex for complex input)
    bad_layouts: tuple = ()
    shape: Callable[[str, int], tuple] = standard_shape
    layout_rule: bool = True
    max_examples: int = 20


SR = 8000
STFT = dict(n_fft=64, hop_length=16)
MEL = dict(sr=SR, n_mels=16, **STFT)
CQT_OPTS = dict(sr=SR, hop_length=16, n_bins=12, fmin=500.0)
SIN = dict(sr=SR, n_fft=64, hop_length=16, max_partials=4)
OTHER = (0.3 * np.sin(2 * np.pi * 440 * np.arange(301) / SR)).astype(np.float32)  # the second input

S1 = jaxmusic.Scattering1D(J=3, shape=256)
TFS = jaxmusic.TimeFrequencyScattering(J=4, J_fr=1, shape=256, Q=(2, 1))
SPIRAL = jaxmusic.SpiralScattering(J=5, shape=512, Q=4)
MELSPEC = features.MelSpectrogram(**MEL)
MFCC = features.MFCC(n_mfcc=8, **MEL)
CQT = features.CQT(**CQT_OPTS)


def frames(n: int) -> int:
    return 1 + n // 16


def batch(shape):
    return tuple(shape[:-1])


def _scalogram_out(shape):
    n_paths, n_frames = jaxmusic.Scattering1D(J=2, shape=shape[-1], Q=(1,), max_order=1).output_shape()
    return batch(shape) + (n_paths - 1, n_frames)


def _istft_shape(layout: str, n: int) -> tuple:
    """STFT matrices: 33 bins (n_fft=64) by ``n`` frames; channels-last puts bins last."""
    return {"mono": (33, n), "batch": (2, 33, n), "empty_batch": (0, 33, n), "channels_last": (n, 33),
            "extra_batch": (2, 1, 33, n)}[layout]


def _partials_shape(layout: str, n: int) -> tuple:
    """Partials arrays are (frames, n_partials)."""
    return {"mono": (n,), "batch": (2, n), "empty_batch": (0, n), "channels_last": (n, 2),
            "extra_batch": (2, 1, n)}[layout]


def _synthesis_call(x):
    p = Partials(freqs=x, amps=x, phases=x, sr=SR, hop_length=16)
    return synthesis.sinusoidal_synthesis(p)


def _analysis_out(shape):
    n_frames = frames(shape[-1])
    return {"freqs": (n_frames, 4), "amps": (n_frames, 4), "phases": (n_frames, 4)}


def _analysis_call(x):
    p = synthesis.sinusoidal_analysis(x, **SIN)
    assert p.f0 is None
    return {"freqs": p.freqs, "amps": p.amps, "phases": p.phases}


def _validate_call(x):
    out = audio.validate(x)
    assert out is x, "validate must return its input unchanged"
    return jnp.asarray(x, jnp.float32)


def _to_float_call(x):
    y = audio.to_float(x)
    assert y.dtype == np.float32
    if np.asarray(x).dtype.kind == "i":
        assert np.all(np.abs(y) <= 1.0), "integer PCM must map into [-1, 1]"
    return y


CASES = [
    Case("Scattering1D", S1, lambda s: batch(s) + S1.output_shape(), valid=256, fixed=True,
         frame=256, max_examples=25),
    Case("TimeFrequencyScattering", TFS, lambda s: batch(s) + TFS.output_shape(), valid=256, fixed=True,
         frame=256, max_examples=20),
    Case("SpiralScattering", SPIRAL, lambda s: batch(s) + (SPIRAL.output_size(), 512 // 32), valid=512,
         fixed=True, frame=512, max_examples=20),
    Case("melspectrogram", lambda x: features.melspectrogram(x, **MEL),
         lambda s: batch(s) + (16, frames(s[-1])), valid=301, frame=64, warns_short=True),
    Case("MelSpectrogram", MELSPEC, lambda s: batch(s) + (16, frames(s[-1])), valid=301, frame=64,
         warns_short=True),
    Case("mfcc", lambda x: features.mfcc(x, n_mfcc=8, **MEL), lambda s: batch(s) + (8, frames(s[-1])),
         valid=301, frame=64, warns_short=True),
    Case("MFCC", MFCC, lambda s: batch(s) + (8, frames(s[-1])), valid=301, frame=64, warns_short=True),
    Case("cqt", lambda x: features.cqt(x, **CQT_OPTS), lambda s: batch(s) + (12, CQT.n_frames(s[-1])),
         valid=301, frame=16, complex_out=True),
    Case("vqt", lambda x: features.vqt(x, **CQT_OPTS), lambda s: batch(s) + (12, CQT.n_frames(s[-1])),
         valid=301, frame=16, complex_out=True, max_examples=20),
    Case("CQT", CQT, lambda s: batch(s) + (12, CQT.n_frames(s[-1])), valid=301, frame=16, complex_out=True),
    Case("scalogram", lambda x: features.scalogram(x, J=2, Q=1), _scalogram_out, valid=301, frame=4,
         min_length=4, max_examples=20),
    Case("power_to_db", features.power_to_db, lambda s: s, valid=301, min_length=0, dtypes=("complex64",),
         layout_rule=False),
    Case("amplitude_to_db", features.amplitude_to_db, lambda s: s, valid=301, min_length=0,
         dtypes=("complex64",), layout_rule=False),
    Case("dft", fourier.dft, lambda s: s, valid=301, dtypes=("complex64",), complex_out=True,
         layout_rule=False),
    Case("idft", fourier.idft, lambda s: s, valid=301, dtypes=("complex64",), complex_out=True,
         layout_rule=False),
    Case("frame", lambda x: fourier.frame(x, frame_length=16, hop_length=4),
         lambda s: batch(s) + (16, 1 + (s[-1] - 16) // 4), valid=301, min_length=16, dtypes=("complex64",),
         complex_out="same", layout_rule=False),
    Case("stft", lambda x: fourier.stft(x, **STFT), lambda s: batch(s) + (33, frames(s[-1])), valid=301,
         frame=64, warns_short=True, complex_out=True),
    Case("istft", lambda D: fourier.istft(D, **STFT), lambda s: s[:-2] + (16 * (s[-1] - 1),), valid=19,
         dtypes=("complex64",), shape=_istft_shape, layout_rule=False, bad_layouts=("channels_last",)),
    Case("cepstral_envelope", lambda x: synthesis.cepstral_envelope(x, n_coeffs=8, **STFT),
         lambda s: batch(s) + (33, frames(s[-1])), valid=301, frame=64, warns_short=True),
    Case("envelope_hybrid(source)", lambda x: synthesis.envelope_hybrid(x, OTHER, n_coeffs=8, **STFT),
         lambda s: (max(s[-1], 301),), valid=301, frame=64, min_length=64, audio=True, max_examples=25),
    Case("envelope_hybrid(target)", lambda x: synthesis.envelope_hybrid(OTHER, x, n_coeffs=8, **STFT),
         lambda s: (max(s[-1], 301),), valid=301, frame=64, min_length=64, audio=True, max_examples=20),
    Case("mosaic", lambda x: synthesis.mosaic(x, OTHER, sr=SR, n_fft=256, hop_length=64, n_mfcc=8),
         lambda s: (s[-1],), valid=301, frame=256, min_length=256, audio=True, max_examples=20),
    Case("sinusoidal_analysis", _analysis_call, _analysis_out, valid=301, frame=64, min_length=64,
         audio=True, max_examples=25),
    Case("sinusoidal_synthesis", _synthesis_call, lambda s: (max(0, (s[0] - 1) * 16 + 1),), valid=301,
         min_length=0, shape=_partials_shape, layout_rule=False, bad_layouts=("mono", "extra_batch"),
         max_examples=25),
    Case("sinusoidal_model", lambda x: synthesis.sinusoidal_model(x, **SIN), lambda s: ((s[-1],), (s[-1],)),
         valid=301, frame=64, min_length=64, audio=True, max_examples=20),
    Case("sinusoidal_morph", lambda x: synthesis.sinusoidal_morph(x, OTHER, 0.5, **SIN),
         lambda s: (int(round(0.5 * s[-1] + 0.5 * 301)),), valid=301, frame=64, min_length=64, audio=True,
         max_examples=15),
    Case("audio.validate", _validate_call, lambda s: s, valid=301, audio=True, layout_rule=False),
    Case("audio.to_float", _to_float_call, lambda s: s, valid=301, min_length=0, dtypes=("int16",),
         layout_rule=False),
]

#: every public entry point tried (distinct functions and transforms): the cases above
#: (`envelope_hybrid` twice, its signal as source and as target) and `jaxmusic.audio.load`
ENTRY_POINTS = tuple(dict.fromkeys(c.name.split("(")[0] for c in CASES)) + ("audio.load",)


# ------------------------------------------------------------------------ the property


def defects(case: Case, x, layout: str) -> dict[str, list[str]]:
    """What is wrong with ``x`` for ``case``, each with the words a message naming it may use."""
    shape = tuple(np.shape(x))
    dtype = np.asarray(x).dtype
    found: dict[str, list[str]] = {}
    is_real = jnp.issubdtype(dtype, jnp.floating)
    if not is_real and dtype.name not in case.dtypes:
        found["dtype"] = [dtype.name]
    n = shape[-1] if shape else 0
    words = [str(shape), f"{n} sample", f"length={n}", f"shape={n}"]
    bad_shape = (not shape or n < case.min_length or (case.fixed and n != case.valid)
                 or (case.audio and len(shape) not in (1, 2)))
    if case.layout_rule and len(shape) >= 2 and shape[-1] < case.frame <= shape[-2]:
        bad_shape = True  # channels-last audio
    if layout in case.bad_layouts:
        bad_shape = True
    if case.audio and 0 in shape:
        found["empty"] = [str(shape), "empty"]
    if bad_shape:
        found["shape"] = words
    count = nonfinite(x)
    if count:
        found["nonfinite"] = [str(count)]
    if peak(x) > 1e20:
        found["peak"] = ["peak"]
    return found


def names_value(message: str, found: dict[str, list[str]]) -> bool:
    for kind, words in found.items():
        for word in words:
            if kind == "nonfinite":
                if re.search(rf"\b{word} (NaN|non-finite)", message):
                    return True
            elif word in message:
                return True
    return False


def check_property(case: Case, x, layout: str) -> None:
    found = defects(case, x, layout)
    desc = f"{case.name} on dtype {np.asarray(x).dtype}, shape {np.shape(x)} ({layout}), peak {peak(x):.3g}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = case.call(x)
            jax.block_until_ready(out)
        except JaxMusicError as err:
            message = str(err)
            assert found, f"{desc}: a valid input was refused: {type(err).__name__}: {message}"
            assert names_value(message, found), (
                f"{desc}: the message does not name the offending value ({sorted(found)}): {message}")
            return
        except Exception as err:  # noqa: BLE001  (any other exception is a failure)
            pytest.fail(f"{desc}: raised {type(err).__name__}, not a jaxmusic error: {err}")
    silent = sorted(set(found) - {"peak"})
    assert not silent, f"{desc}: accepted an input with {silent} instead of refusing it"
    expected = case.out(tuple(np.shape(x)))
    got = jax.tree_util.tree_map(lambda a: tuple(np.shape(a)), out)
    assert got == expected, f"{desc}: output shape {got}, documented {expected}"
    for leaf in jax.tree_util.tree_leaves(out):
        a = np.asarray(leaf)
        want = case.complex_out if case.complex_out != "same" else np.asarray(x).dtype.kind == "c"
        assert a.dtype == (np.complex64 if want else np.float32), f"{desc}: dtype {a.dtype}"
        assert np.all(np.isfinite(a)), f"{desc}: {a.size - np.count_nonzero(np.isfinite(a))} non-finite outputs"
    n = np.shape(x)[-1]
    if case.warns_short and 0 < n < case.frame and np.size(x):
        assert any(issubclass(w.category, JaxMusicWarning) and f"n_fft={case.frame}" in str(w.message)
                   for w in caught), f"{desc}: a signal shorter than n_fft={case.frame} gave no JaxMusicWarning"


def inputs():
    return st.tuples(st.sampled_from(DTYPES), st.sampled_from(LAYOUTS), st.sampled_from(LENGTHS),
                     st.sampled_from(VALUES), st.integers(0, 2**16))


LENGTH_OF = {"zero": 0, "one": 1, "short_odd": 7}


def test_every_kind_is_tried_and_counted():
    """The module's counts are what the strategies draw from, and every entry point
    accepts a valid input (so that the property is not met by refusing everything).
    First in the file: it compiles the common shapes the examples then reuse."""
    assert len(set(ENTRY_POINTS)) == len(ENTRY_POINTS) == 28 and len(CASES) == 28
    assert INPUT_KINDS == 32  # 7 dtypes + 5 layouts + 4 lengths + 6 value kinds + 10 file kinds
    for case in CASES:
        x = make_array("float32", case.shape("batch", case.valid), "normal", 0)
        check_property(case, x, "batch")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_entry_point_refuses_or_returns_finite_documented_output(case):
    @settings(max_examples=case.max_examples, **SETTINGS)
    @given(inputs())
    @example(("float32", "mono", "valid", "huge", 0))          # overflow of squares
    @example(("float32", "batch", "valid", "nan", 0))          # NaN in one signal of a batch
    @example(("float16", "extra_batch", "valid", "normal", 0))  # the half-precision rule
    @example(("float32", "empty_batch", "valid", "normal", 0))  # an empty batch
    @example(("float64", "channels_last", "valid", "normal", 0))  # (samples, channels) audio
    @example(("float32", "mono", "one", "zeros", 0))          # one sample of silence
    def run(spec):
        if _over_budget():
            return
        dtype, layout, length, values, seed = spec
        n = case.valid if length == "valid" else LENGTH_OF[length]
        x = make_array(dtype, case.shape(layout, n), values, seed)
        event(f"{dtype} {layout} {length} {values}")
        check_property(case, x, layout)

    run()


# ------------------------------------------------------------------------- audio.load


def write_file(tmp_path, kind: str, channels: int, n: int, seed: int):
    """A file of ``kind`` (see FILE_KINDS) with ``channels`` and ``n`` frames; returns its path."""
    rng = np.random.default_rng(seed)
    data = (0.5 * rng.standard_normal((max(n, 1), channels))).astype(np.float32)[:n]
    path = tmp_path / f"{kind}_{channels}_{n}_{seed}.{'flac' if kind == 'pcm24_flac' else 'wav'}"
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
        return path
    if kind == "zero_bytes":
        path.write_bytes(b"")
        return path
    if kind == "random_bytes":
        path.write_bytes(rng.integers(0, 256, 64 + n, dtype=np.uint8).tobytes())
        return path
    subtype = {"pcm16": "PCM_16", "pcm24_flac": "PCM_24", "float": "FLOAT", "float_nan": "FLOAT",
               "zero_frames": "PCM_16", "truncated": "PCM_16"}[kind]
    if kind == "float_nan" and data.size:
        data.reshape(-1)[rng.integers(0, data.size)] = np.nan
    sf.write(path, data[:0] if kind == "zero_frames" else data, SR, subtype=subtype)
    if kind == "truncated":
        raw = path.read_bytes()
        path.write_bytes(raw[: max(12, len(raw) // 2)])
    return path


@settings(max_examples=40, **SETTINGS)
@given(st.sampled_from(FILE_KINDS), st.sampled_from((1, 2)), st.sampled_from((0, 1, 7, 301)),
       st.sampled_from((None, 16000)), st.booleans(), st.integers(0, 2**16))
def test_load_refuses_naming_the_file_or_returns_finite_audio(tmp_path_factory, kind, channels, n, sr, mono, seed):
    if _over_budget():
        return
    tmp = tmp_path_factory.mktemp("load")
    path = write_file(tmp, kind, channels, n, seed)
    event(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a truncated data chunk warns (UserWarning) and loads
        try:
            y, got_sr = audio.load(path, sr=sr, mono=mono)
        except JaxMusicError as err:
            assert str(path) in str(err), f"{kind}: the message does not name the file: {err}"
            assert kind not in VALID_FILES or n == 0 or (sr and n < 7), f"a valid file was refused: {err}"
            return
        except Exception as err:  # noqa: BLE001
            pytest.fail(f"{kind}: raised {type(err).__name__}, not a jaxmusic error: {err}")
    assert kind not in ("float_nan", "zero_frames", "zero_bytes", "random_bytes", "missing", "directory"), (
        f"{kind} file was loaded: {y.shape}")
    assert y.dtype == np.float32 and y.size and np.all(np.isfinite(y))
    assert got_sr == (sr or SR)
    assert y.ndim == (1 if mono or channels == 1 else 2)
    if y.ndim == 2:
        assert y.shape[0] == channels
