"""Cross-synthesis by cepstral envelope (envelope_hybrid) and by MFCC mosaicing (mosaic).

References are written here from the formulas: NumPy framing, np.fft per frame, the
lifter, NumPy overlap-add; and, for the mosaic's frame choice, librosa's MFCC with
scikit-learn's NearestNeighbors.
"""

import functools

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest
import scipy.signal
from sklearn.neighbors import NearestNeighbors

from jaxmusic._checks import AudioError, ParameterError
from jaxmusic.synthesis.envelope import EPS, cepstral_envelope, envelope_hybrid
from jaxmusic.synthesis.mosaic import MosaicIndices, mosaic

SR = 22050
N_FFT, HOP = 512, 128
OPTS = dict(sr=SR, n_fft=N_FFT, hop_length=HOP)


def _melody(n, *, seed, odd=False, noise=0.01):
    """Harmonic notes (new pitch every 0.1 s, random partial amplitudes) plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    note = (t // 0.1).astype(int)
    f0 = (110.0 * 2 ** (rng.integers(0, 24, note.max() + 1) / 12))[note]
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(rng.uniform(0.2, 1.0) * np.sin(h * phase) / h for h in range(1, 12) if not (odd and h % 2 == 0))
    y = y * (0.2 + np.exp(-20 * (t % 0.1))) + noise * rng.standard_normal(n)
    return (0.4 * y / np.abs(y).max()).astype(np.float32)


N = 8192
SOURCE = _melody(N, seed=0)
TARGET = _melody(N, seed=1, odd=True, noise=0.05)


# ------------------------------------------------------------ NumPy reference


def _np_frames(y, n_fft, hop):
    yp = np.pad(y.astype(np.float64), n_fft // 2)
    n_frames = 1 + (len(yp) - n_fft) // hop
    return np.stack([yp[f * hop : f * hop + n_fft] for f in range(n_frames)])  # (frames, n_fft)


def _np_window(n_fft):
    return scipy.signal.get_window("hann", n_fft, fftbins=True)


def _np_lifter(n_fft, n_coeffs):
    w = np.zeros(n_fft)
    w[:n_coeffs] = 1
    if n_coeffs > 1:
        w[-(n_coeffs - 1):] = 1
    return w


def _np_envelope(frames_spec, n_fft, n_coeffs):
    """frames_spec: (frames, bins) complex -> (frames, bins) log envelope, one frame at a time."""
    w = _np_lifter(n_fft, n_coeffs)
    out = []
    for X in frames_spec:
        c = np.fft.irfft(np.log(np.maximum(np.abs(X), EPS)), n=n_fft)
        out.append(np.fft.rfft(w * c).real)
    return np.array(out)


def _np_hybrid(s, t, *, n_fft, hop, n_coeffs):
    n = max(len(s), len(t))
    s, t = np.resize(s, n), np.resize(t, n)
    # one hop of zeros after the end, so that frames reach past it (as envelope_hybrid)
    s, t = np.pad(s, (0, hop)), np.pad(t, (0, hop))
    Xs, Xt = _np_stft(s, n_fft, hop), _np_stft(t, n_fft, hop)
    Y = Xs * np.exp(_np_envelope(Xt, n_fft, n_coeffs) - _np_envelope(Xs, n_fft, n_coeffs))
    return _np_istft(Y, n_fft, hop, n + hop)[:n]


def _np_stft(y, n_fft, hop):
    """(frames, bins): rfft of each windowed, centred frame."""
    win = _np_window(n_fft)
    return np.array([np.fft.rfft(win * f) for f in _np_frames(y, n_fft, hop)])


def _np_istft(Y, n_fft, hop, n):
    """Inverse of `_np_stft` (frames, bins): windowed overlap-add over the summed squared window."""
    win = _np_window(n_fft)
    out = np.zeros(n_fft + hop * (len(Y) - 1))
    wss = np.zeros_like(out)
    for f, spec in enumerate(Y):
        out[f * hop : f * hop + n_fft] += win * np.fft.irfft(spec, n=n_fft)
        wss[f * hop : f * hop + n_fft] += win**2
    out = np.where(wss > 1e-10, out / np.maximum(wss, 1e-10), out)
    return out[n_fft // 2 : n_fft // 2 + n]


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# --------------------------------------------------------------- envelope_hybrid


@pytest.mark.parametrize("n_coeffs", [1, 30, 1 + N_FFT // 2])
def test_cepstral_envelope_matches_numpy(n_coeffs):
    got = np.asarray(cepstral_envelope(SOURCE, n_fft=N_FFT, hop_length=HOP, n_coeffs=n_coeffs))
    spec = np.array([np.fft.rfft(_np_window(N_FFT) * f) for f in _np_frames(SOURCE, N_FFT, HOP)])
    want = _np_envelope(spec, N_FFT, n_coeffs).T
    assert got.shape == (1 + N_FFT // 2, 1 + N // HOP) == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    if n_coeffs == 1:  # only quefrency 0: a flat envelope, the mean log magnitude
        assert np.ptp(got, axis=0).max() < 1e-3
    if n_coeffs == 1 + N_FFT // 2:  # every quefrency: the log magnitude itself
        np.testing.assert_allclose(got, np.log(np.maximum(np.abs(spec), EPS)).T, atol=1e-3)


def test_cepstral_envelope_batch_equals_loop():
    both = np.stack([SOURCE, TARGET])
    got = cepstral_envelope(both, n_fft=N_FFT, hop_length=HOP, n_coeffs=20)
    for i, y in enumerate(both):
        np.testing.assert_allclose(got[i], cepstral_envelope(y, n_fft=N_FFT, hop_length=HOP, n_coeffs=20),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_coeffs", [20, 1 + N_FFT // 2])
def test_hybrid_matches_numpy_transcription(n_coeffs):
    got = np.asarray(envelope_hybrid(SOURCE, TARGET, n_coeffs=n_coeffs, **OPTS))
    want = _np_hybrid(SOURCE, TARGET, n_fft=N_FFT, hop=HOP, n_coeffs=n_coeffs)
    assert got.shape == (N,) and got.dtype == np.float32
    assert _rel(got, want) < 1e-4
    # and the output differs from both inputs (the formula did something)
    assert _rel(got, SOURCE) > 0.1 and _rel(got, TARGET) > 0.1


def test_hybrid_jit_equals_eager_and_vmap_equals_loop():
    f = jax.jit(functools.partial(envelope_hybrid, n_coeffs=20, **OPTS))
    eager = envelope_hybrid(SOURCE, TARGET, n_coeffs=20, **OPTS)
    np.testing.assert_allclose(f(SOURCE, TARGET), eager, rtol=1e-5, atol=1e-6)
    both = jax.vmap(f)(jnp.stack([SOURCE, TARGET]), jnp.stack([TARGET, SOURCE]))
    np.testing.assert_allclose(both[0], eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both[1], f(TARGET, SOURCE), rtol=1e-5, atol=1e-6)


def test_hybrid_length_is_the_longer_input_with_the_shorter_repeated():
    half = TARGET[: N // 2]
    got = envelope_hybrid(SOURCE, half, n_coeffs=20, **OPTS)
    assert got.shape == (N,)
    np.testing.assert_allclose(got, envelope_hybrid(SOURCE, np.tile(half, 2), n_coeffs=20, **OPTS), atol=1e-6)
    # a source shorter than the target, not a whole number of times: repeated and cut
    short = SOURCE[:3000]
    got = envelope_hybrid(short, TARGET, n_coeffs=20, **OPTS)
    assert got.shape == (N,)
    np.testing.assert_allclose(got, envelope_hybrid(np.tile(short, 3)[:N], TARGET, n_coeffs=20, **OPTS), atol=1e-6)
    # not zero-padded: the end of the output carries signal
    assert np.abs(np.asarray(got[-1000:])).max() > 1e-2


def test_all_quefrencies_give_target_magnitude_with_source_phase():
    got = envelope_hybrid(SOURCE, TARGET, n_coeffs=1 + N_FFT // 2, **OPTS)
    pad = lambda y: np.pad(y, (0, HOP))  # noqa: E731  (frames reach one hop past the end)
    Xs, Xt = _np_stft(pad(SOURCE), N_FFT, HOP), _np_stft(pad(TARGET), N_FFT, HOP)
    assert np.abs(Xs).min() > EPS and np.abs(Xt).min() > EPS  # no floor involved here
    want = _np_istft(np.abs(Xt) * np.exp(1j * np.angle(Xs)), N_FFT, HOP, N + HOP)[:N]
    assert _rel(got, want) < 1e-4


def test_output_envelope_is_the_targets():
    n_coeffs = 20
    opts = dict(n_fft=N_FFT, hop_length=HOP, n_coeffs=n_coeffs)
    out = envelope_hybrid(SOURCE, TARGET, sr=SR, **opts)
    E_out, E_s, E_t = (np.asarray(cepstral_envelope(y, **opts)) for y in (out, SOURCE, TARGET))
    inner = slice(4, -4)  # away from the zero-padded edges
    d_target = np.mean(np.abs(E_out - E_t)[:, inner])
    d_source = np.mean(np.abs(E_out - E_s)[:, inner])
    d_inputs = np.mean(np.abs(E_s - E_t)[:, inner])
    assert d_target < 0.25 * d_inputs, (d_target, d_inputs)
    assert d_source > 0.75 * d_inputs
    # the fine structure is the source's: harmonic peaks where the source has them
    Xo = np.abs(_np_stft(np.asarray(out), N_FFT, HOP)).T
    Xs = np.abs(_np_stft(SOURCE, N_FFT, HOP)).T
    fine_o = np.log(Xo + 1e-5) - E_out
    fine_s = np.log(Xs + 1e-5) - E_s
    assert np.corrcoef(fine_o[:, inner].ravel(), fine_s[:, inner].ravel())[0, 1] > 0.9


def test_silence_gives_silence_or_near_zero():
    silent = np.zeros(N, np.float32)
    out = np.asarray(envelope_hybrid(silent, TARGET, n_coeffs=20, **OPTS))
    assert np.all(np.isfinite(out)) and np.abs(out).max() == 0.0
    out = np.asarray(envelope_hybrid(SOURCE, silent, n_coeffs=20, **OPTS))
    assert np.all(np.isfinite(out)) and np.abs(out).max() < 1e-3
    out = np.asarray(envelope_hybrid(silent, silent, n_coeffs=20, **OPTS))
    assert np.all(out == 0.0)


def test_gradients_finite_and_match_finite_differences():
    n = 2048
    opts = dict(sr=SR, n_fft=256, hop_length=64, n_coeffs=10)

    @jax.jit
    def loss(s, t):
        return jnp.sum(envelope_hybrid(s, t, **opts) ** 2)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))

    zero = jnp.zeros(n, jnp.float32)
    for g in grad(zero, zero):
        assert g.shape == (n,) and bool(jnp.all(jnp.isfinite(g)))
    with jax.enable_x64(True):
        s = jnp.asarray(SOURCE[:n], jnp.float64)
        t = jnp.asarray(TARGET[:n], jnp.float64)
        gs, gt = grad(s, t)
        assert bool(jnp.all(jnp.isfinite(gs))) and bool(jnp.all(jnp.isfinite(gt)))
        v = jnp.asarray(np.random.default_rng(0).standard_normal(n))
        h = 1e-7  # the loss is steep (quiet source bins are raised to the target's level)
        for g, shift in ((gs, lambda e: (s + e * v, t)), (gt, lambda e: (s, t + e * v))):
            fd = (loss(*shift(h)) - loss(*shift(-h))) / (2 * h)
            assert abs(float(jnp.dot(g, v)) - float(fd)) < 1e-4 * abs(float(fd))


def test_strict_dtype_promotion_and_float64():
    s, t = SOURCE[:2048], TARGET[:2048]
    opts = dict(n_fft=256, hop_length=64, n_coeffs=10)
    with jax.numpy_dtype_promotion("strict"):
        assert envelope_hybrid(s, t, **opts).dtype == jnp.float32
        assert cepstral_envelope(s, **opts).dtype == jnp.float32
    with jax.enable_x64(True):
        y64 = envelope_hybrid(s.astype(np.float64), t, **opts)
        assert y64.dtype == jnp.float64
        np.testing.assert_allclose(y64, envelope_hybrid(s, t, **opts), atol=1e-5)


def test_hybrid_stereo_is_mixed_down():
    stereo = np.stack([SOURCE, 0.5 * SOURCE])
    np.testing.assert_allclose(envelope_hybrid(stereo, TARGET, n_coeffs=20, **OPTS),
                               envelope_hybrid(0.75 * SOURCE, TARGET, n_coeffs=20, **OPTS), atol=1e-6)


def test_hybrid_bad_input():
    bad = SOURCE.copy()
    bad[100] = np.nan
    with pytest.raises(AudioError, match="source"):
        envelope_hybrid(bad, TARGET, **OPTS)
    bad = TARGET.copy()
    bad[5] = np.inf
    with pytest.raises(AudioError, match="target"):
        envelope_hybrid(SOURCE, bad, **OPTS)
    with pytest.raises(ParameterError, match=r"target has 100 samples.*n_fft=512"):
        envelope_hybrid(SOURCE, TARGET[:100], **OPTS)
    with pytest.raises(ParameterError, match="integer"):
        envelope_hybrid((SOURCE * 1000).astype(np.int16), TARGET, **OPTS)
    with pytest.raises(ParameterError, match="shape"):
        envelope_hybrid(SOURCE.reshape(2, 2, -1), TARGET, **OPTS)
    with pytest.raises(AudioError, match="empty"):
        envelope_hybrid(np.zeros(0, np.float32), TARGET, **OPTS)
    for n_coeffs in (0, 2 + N_FFT // 2, 2.5):
        with pytest.raises(ParameterError, match="n_coeffs"):
            envelope_hybrid(SOURCE, TARGET, n_coeffs=n_coeffs, **OPTS)
    with pytest.raises(ParameterError, match="sr"):
        envelope_hybrid(SOURCE, TARGET, sr=0, n_fft=N_FFT)
    with pytest.raises(ParameterError, match="window"):
        envelope_hybrid(SOURCE, TARGET, window="no-such-window", **OPTS)
    with pytest.raises(TypeError):
        envelope_hybrid(SOURCE, TARGET, SR)  # options are keyword-only
    # under jit the shape checks still run
    with pytest.raises(ParameterError, match="n_fft=512"):
        jax.jit(functools.partial(envelope_hybrid, **OPTS))(SOURCE, TARGET[:100])


# ------------------------------------------------------------------------ mosaic

M_OPTS = dict(sr=SR, n_fft=1024, hop_length=256)
CORPUS_A = _melody(N, seed=2)
CORPUS_B = _melody(N, seed=3, odd=True, noise=0.03)


def _np_mosaic(source, corpus_list, idx: MosaicIndices, *, n_fft, hop, match_energy):
    """Overlap-add of the frames named by ``idx``, recomputed from the corpus signals."""
    win = _np_window(n_fft)
    src = _np_frames(source, n_fft, hop) * win
    frames_of = [_np_frames(c, n_fft, hop) * win for c in corpus_list]
    out = np.zeros(n_fft + hop * (len(src) - 1))
    wss = np.zeros_like(out)
    for f in range(len(src)):
        frame = np.mean([frames_of[i][j] for i, j in zip(idx.file[f], idx.frame[f])], axis=0)
        if match_energy:
            rms = np.sqrt(np.mean(frame**2))
            frame = frame * (np.sqrt(np.mean(src[f] ** 2)) / rms if rms > 0 else 0.0)
        out[f * hop : f * hop + n_fft] += win * frame
        wss[f * hop : f * hop + n_fft] += win**2
    out = np.where(wss > 1e-10, out / np.maximum(wss, 1e-10), out)
    return out[n_fft // 2 : n_fft // 2 + len(source)]


def test_mosaic_reconstructs_a_source_matched_to_itself():
    y, idx = mosaic(SOURCE, SOURCE, exclude_c0=False, match_energy=False, return_indices=True, **M_OPTS)
    n_frames = 1 + N // 256
    assert idx.index.shape == (n_frames, 1)
    np.testing.assert_array_equal(idx.index[:, 0], np.arange(n_frames))
    assert y.shape == (N,) and y.dtype == np.float32
    snr = 10 * np.log10(np.sum(SOURCE**2) / np.sum((y - SOURCE) ** 2))
    assert snr > 80, snr


@pytest.mark.parametrize("match_energy", [False, True])
def test_mosaic_is_the_overlap_add_of_the_chosen_corpus_frames(match_energy):
    corpus = [CORPUS_A, CORPUS_B[:5000]]
    y, idx = mosaic(SOURCE, corpus, k=2, match_energy=match_energy, return_indices=True, **M_OPTS)
    counts = [1 + N // 256, 1 + 5000 // 256]
    assert idx.index.shape == idx.file.shape == idx.frame.shape == (1 + N // 256, 2)
    assert idx.index.min() >= 0 and idx.index.max() < sum(counts)
    np.testing.assert_array_equal(idx.index, np.array([0, counts[0]])[idx.file] + idx.frame)
    assert np.all(idx.frame < np.array(counts)[idx.file])
    assert set(np.unique(idx.file)) == {0, 1}  # both files are used
    assert np.all(idx.index[:, 0] != idx.index[:, 1])
    want = _np_mosaic(SOURCE, corpus, idx, n_fft=1024, hop=256, match_energy=match_energy)
    assert _rel(y, want) < 1e-5


def test_mosaic_energy_matching_follows_the_source_loudness():
    fade = np.float32(np.geomspace(0.01, 1.0, N)) * SOURCE  # 40 dB crescendo

    def log_rms(x):
        return np.log(np.sqrt(np.mean(_np_frames(x, 1024, 256)[2:-2] ** 2, axis=1)))

    matched = mosaic(fade, CORPUS_A, **M_OPTS)
    unmatched = mosaic(fade, CORPUS_A, match_energy=False, **M_OPTS)
    assert np.corrcoef(log_rms(matched), log_rms(fade))[0, 1] > 0.95
    assert np.corrcoef(log_rms(unmatched), log_rms(fade))[0, 1] < 0.5
    # within a few dB of the source frame by frame (overlap-add of unrelated frames loses some)
    assert np.median(np.abs(log_rms(matched) - log_rms(fade))) < np.log(2)


def test_mosaic_several_files_map_back():
    # the source is the second file: every frame is found there, at its own position
    _, idx = mosaic(CORPUS_B, [CORPUS_A, CORPUS_B], exclude_c0=False, match_energy=False,
                    return_indices=True, **M_OPTS)
    n_frames = 1 + N // 256
    np.testing.assert_array_equal(idx.file[:, 0], np.ones(n_frames))
    np.testing.assert_array_equal(idx.frame[:, 0], np.arange(n_frames))
    np.testing.assert_array_equal(idx.index[:, 0], n_frames + np.arange(n_frames))
    assert isinstance(idx, MosaicIndices)


def test_mosaic_output_length_is_the_sources():
    short = CORPUS_B[:5000]  # shorter than the corpus, not a whole number of hops
    y, idx = mosaic(short, CORPUS_A, return_indices=True, **M_OPTS)
    assert y.shape == (5000,) and idx.index.shape == (1 + 5000 // 256, 1)
    y = mosaic(SOURCE, CORPUS_B[:5000], **M_OPTS)  # longer than the corpus
    assert y.shape == (N,) and np.all(np.isfinite(y)) and np.abs(y[-500:]).max() > 1e-3


@pytest.mark.parametrize("k", [1, 3])
def test_mosaic_selects_the_frames_librosa_and_sklearn_select(k):
    corpus = [CORPUS_A, CORPUS_B]
    _, idx = mosaic(SOURCE, corpus, k=k, n_mfcc=13, return_indices=True, **M_OPTS)

    def feats(y):
        return librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, n_fft=1024, hop_length=256)[1:].T

    corpus_feats = np.concatenate([feats(c) for c in corpus])
    nn = NearestNeighbors(n_neighbors=k).fit(corpus_feats)
    dist, want = nn.kneighbors(feats(SOURCE))
    same = idx.index == want
    assert same.mean() > 0.98
    # where they differ, the choices are equally near (ties up to float32 rounding)
    src = feats(SOURCE)
    rows, cols = np.nonzero(~same)
    d_got = np.linalg.norm(src[rows] - corpus_feats[idx.index[rows, cols]], axis=1)
    np.testing.assert_allclose(d_got, dist[rows, cols], rtol=1e-3)


def test_mosaic_silent_source_with_energy_matching_is_silent():
    y = mosaic(np.zeros(N, np.float32), CORPUS_A, **M_OPTS)
    assert np.all(y == 0.0)
    y = mosaic(SOURCE, np.zeros(N, np.float32), **M_OPTS)
    assert np.all(np.isfinite(y))


def test_mosaic_bad_input():
    with pytest.raises(ParameterError, match="empty list"):
        mosaic(SOURCE, [], **M_OPTS)
    bad = SOURCE.copy()
    bad[10] = np.nan
    with pytest.raises(AudioError, match="source"):
        mosaic(bad, CORPUS_A, **M_OPTS)
    with pytest.raises(AudioError, match=r"corpus\[1\]"):
        mosaic(SOURCE, [CORPUS_A, bad], **M_OPTS)
    with pytest.raises(ParameterError, match=r"corpus\[0\] has 500 samples.*n_fft=1024"):
        mosaic(SOURCE, [CORPUS_A[:500]], **M_OPTS)
    with pytest.raises(ParameterError, match=r"source has 1000 samples.*n_fft=1024"):
        mosaic(SOURCE[:1000], CORPUS_A, **M_OPTS)
    # 1 + 1500 // 256 = 6 corpus frames
    with pytest.raises(ParameterError, match=r"k=7 .*\b6 frames"):
        mosaic(SOURCE, CORPUS_A[:1500], k=7, **M_OPTS)
    with pytest.raises(ParameterError, match="k must be"):
        mosaic(SOURCE, CORPUS_A, k=0, **M_OPTS)
    with pytest.raises(ParameterError, match="n_mfcc"):
        mosaic(SOURCE, CORPUS_A, n_mfcc=1, **M_OPTS)  # nothing left without c0
    with pytest.raises(ParameterError, match="integer"):
        mosaic((SOURCE * 1000).astype(np.int16), CORPUS_A, **M_OPTS)
    with pytest.raises(ParameterError, match="match_energy"):
        mosaic(SOURCE, CORPUS_A, match_energy="yes", **M_OPTS)
