"""jaxmusic.models: ConvNets on the CQT, their input, the MLP and the scattering front end."""

import inspect
import itertools

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import optax
import pytest
from flax import nnx

import jaxmusic
from jaxmusic import ParameterError, models
from jaxmusic.models import (
    CONVNET_PRESETS,
    MLP,
    ConvNetInput,
    Fixed,
    InstrumentConvNet,
    ScatteringClassifier,
    Standardizer,
    convnet_input,
    convnet_min_frames,
    convnet_n_features,
    fit_normalization,
)


def n_params(model) -> int:
    return sum(int(np.size(x)) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def variables(tree, kind):
    return [v for v in jax.tree.leaves(tree, is_leaf=lambda v: isinstance(v, nnx.Variable)) if isinstance(v, kind)]


# --------------------------------------------------------------------- ConvNet
PAPER_COUNTS = {  # Lostanlen & Cella (ISMIR 2016), 8 classes, 128 frames
    ("spiral",): 35_944,
    ("1-d",): 19_720,
    ("2-d",): 92_584,
    ("spiral", "1-d"): 55_080,
    ("spiral", "2-d"): 127_944,
    ("1-d", "2-d"): 111_720,
    ("spiral", "1-d", "2-d"): 147_080,
}


@pytest.mark.parametrize("branches", list(PAPER_COUNTS), ids="+".join)
def test_convnet_parameter_counts_and_shapes(branches):
    model = InstrumentConvNet(branches=branches, rngs=nnx.Rngs(0))
    assert n_params(model) == PAPER_COUNTS[branches]
    assert model.n_features == convnet_n_features(branches=branches)
    # any order names the same network
    assert InstrumentConvNet(branches=branches[::-1], rngs=nnx.Rngs(0)).branches == model.branches
    x = jax.ShapeDtypeStruct((2, 96, 128, 1), jnp.float32)
    assert nnx.eval_shape(lambda m, x: m.features(x), model, x).shape == (2, model.n_features)
    y = nnx.eval_shape(lambda m, x: m(x), model, x)
    assert y.shape == (2, 8) and y.dtype == jnp.float32


def test_convnet_feature_widths_and_classes():
    assert convnet_n_features(branches=("2-d",)) == 8 * 4 * 32
    assert convnet_n_features(branches=("1-d",)) == 4 * 32
    assert convnet_n_features(branches=("spiral",)) == 4 * 32
    model = InstrumentConvNet(branches=("1-d",), n_classes=11, n_frames=64, rngs=nnx.Rngs(0))
    assert nnx.eval_shape(lambda m, x: m(x), model, jnp.zeros((3, 96, 64, 1))).shape == (3, 11)


@pytest.mark.parametrize(
    "branches, match",
    [
        (("spiral", "3-d"), "'3-d'"),
        (("2-d", "2-d"), "'2-d' appears more than once"),
        ((), "at least one"),
        ("cqt", "'cqt'"),
        (None, "None"),
    ],
)
def test_convnet_rejects_bad_branches(branches, match):
    with pytest.raises(ParameterError, match=match):
        InstrumentConvNet(branches=branches, rngs=nnx.Rngs(0))


def test_convnet_rejects_too_few_frames():
    assert convnet_min_frames(branches=("1-d",)) == 34
    assert convnet_min_frames() == 49
    with pytest.raises(ParameterError, match="n_frames=40 is too short.*n_frames >= 49"):
        InstrumentConvNet(n_frames=40, rngs=nnx.Rngs(0))
    InstrumentConvNet(branches=("1-d",), n_frames=40, rngs=nnx.Rngs(0))  # enough for 1-d
    with pytest.raises(ParameterError, match="n_bins >= 60"):
        InstrumentConvNet(branches=("spiral",), n_bins=48, rngs=nnx.Rngs(0))
    with pytest.raises(ParameterError, match="dropout"):
        InstrumentConvNet(dropout=1.0, rngs=nnx.Rngs(0))
    model = InstrumentConvNet(branches=("1-d",), rngs=nnx.Rngs(0))
    with pytest.raises(ParameterError, match=r"n_frames=128"):
        model(jnp.zeros((2, 96, 100, 1)))
    with pytest.raises(ParameterError, match=r"x\[\.\.\., None\]"):
        model(jnp.zeros((2, 96, 128)))
    with pytest.raises(ParameterError, match="floating"):
        model(jnp.zeros((2, 96, 128, 1), jnp.int32))


def test_convnet_dropout_modes_and_jit():
    model = InstrumentConvNet(branches=("spiral", "1-d", "2-d"), rngs=nnx.Rngs(params=0, dropout=1))
    x = jax.random.normal(jax.random.key(2), (2, 96, 128, 1))
    forward = nnx.jit(lambda m, x: m(x))
    train_a, train_b = forward(model, x), forward(model, x)
    assert not np.allclose(train_a, train_b)  # a new dropout mask per call
    model.eval()
    eval_a, eval_b = model(x), model(x)
    assert eval_a.shape == (2, 8) and np.isfinite(np.asarray(eval_a)).all()
    np.testing.assert_array_equal(eval_a, eval_b)
    np.testing.assert_allclose(forward(model, x), eval_a, rtol=1e-5, atol=1e-5)  # jit == eager
    model.train()
    assert not np.allclose(model(x), eval_a)


def test_convnet_train_step_decreases_loss():
    model = InstrumentConvNet(branches=("1-d",), n_classes=2, dropout=0.0, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    x = jax.random.normal(jax.random.key(3), (4, 96, 128, 1))
    y = jnp.array([0, 1, 0, 1])

    @nnx.jit
    def step(model, opt, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    losses = [float(step(model, opt, x, y)) for _ in range(5)]
    assert losses[-1] < losses[0]


def test_presets():
    for name, p in CONVNET_PRESETS.items():
        assert 1 + p.n_samples // p.hop_length >= p.n_frames, name
        assert (p.fmin, p.n_bins, p.bins_per_octave, p.n_frames) == (55.0, 96, 12, 128)
    assert CONVNET_PRESETS["ismir2016"].sr == 44100 and CONVNET_PRESETS["gm8"].sr == 16000


# --------------------------------------------------------------------- input
def test_a_weighting_matches_librosa():
    f = librosa.cqt_frequencies(96, fmin=55.0)
    np.testing.assert_allclose(models.a_weighting(f), librosa.A_weighting(f), atol=1e-9)


def test_convnet_input_gm8():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    audio = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.1 * rng.standard_normal(16000)]).astype(np.float32)
    X = convnet_input(audio, sr=16000)
    assert X.shape == (2, 96, 128, 1) and X.dtype == jnp.float32
    F = ConvNetInput(sr=16000, preset="gm8")
    assert F.n_valid == 86  # filters above 7.46 kHz would cross Nyquist at 16 kHz
    np.testing.assert_array_equal(X[:, 86:], 0.0)
    assert (X[1, :86] > 0).all()
    k440 = int(np.argmax(np.asarray(X[0, :, 64, 0])))
    assert F.frequencies()[k440] == pytest.approx(440.0)
    # float32 FFTs: jit(vmap) and eager agree to ~1e-5 of the largest values
    np.testing.assert_allclose(jax.jit(jax.vmap(F))(audio), X, rtol=1e-4, atol=1e-4)
    # the network takes it as is
    model = InstrumentConvNet(branches=("1-d",), rngs=nnx.Rngs(0))
    assert model(X).shape == (2, 8)


def test_convnet_input_pads_crops_and_checks():
    audio = 0.1 * jax.random.normal(jax.random.key(0), (4000,))
    X = convnet_input(audio, sr=16000, n_frames=40)  # 33 frames, padded with silence
    assert X.shape == (96, 40, 1)
    np.testing.assert_array_equal(X[:, 33:], 0.0)
    assert convnet_input(audio, sr=16000, n_frames=20).shape == (96, 20, 1)
    # a transform for batch pipelines (jaxmusic.extract): the hop spans the whole note
    T = models.convnet_transform(sr=16000, n_samples=64000)
    assert T.hop_length == 503
    assert jax.eval_shape(T, jax.ShapeDtypeStruct((64000,), jnp.float32)).shape == (96, 128, 1)
    assert models.convnet_transform(sr=16000, n_samples=16000).hop_length == CONVNET_PRESETS["gm8"].hop_length
    with pytest.raises(ParameterError, match="unknown preset 'paper'"):
        convnet_input(audio, sr=16000, preset="paper")
    with pytest.raises(ParameterError, match="hop_length is required"):
        convnet_input(audio, sr=16000, preset=None, fmin=55.0, n_bins=96, bins_per_octave=12, n_frames=8)
    with pytest.raises(ParameterError, match="NaN"):
        convnet_input(audio.at[3].set(jnp.nan), sr=16000)
    with pytest.raises(ParameterError, match="floating"):
        convnet_input(np.zeros(4000, np.int16), sr=16000)


def test_normalization_uses_training_statistics_only():
    rng = np.random.default_rng(1)
    train = rng.normal(2.0, 3.0, (20, 5, 7, 1)).astype(np.float32)
    train[:, 4] = 0.0  # a constant row (e.g. bins above Nyquist)
    test = rng.normal(-1.0, 0.5, (6, 5, 7, 1)).astype(np.float32)
    mean, std = fit_normalization(train)
    assert mean.shape == std.shape == (5, 1, 1)
    np.testing.assert_allclose(mean[:, 0, 0], train.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std[:4, 0, 0], train[:, :4].std(axis=(0, 2, 3)), rtol=1e-5)
    assert std[4] == 1.0
    norm = Standardizer.fit(train)
    z_train, z_test = norm(train), norm(test)
    np.testing.assert_allclose(z_train[:, :4].mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z_train[:, :4].std(axis=(0, 2, 3)), 1.0, rtol=1e-4)
    # the test split is mapped with the training statistics, not its own
    np.testing.assert_allclose(z_test, (test - mean) / std, rtol=1e-6, atol=1e-6)
    assert abs(float(z_test[:, :4].mean())) > 0.5
    np.testing.assert_allclose(norm.inverse(z_test), test, rtol=1e-5, atol=1e-5)
    # batches streamed from an iterable give the same statistics
    mean_b, std_b = fit_normalization(iter([train[:7], train[7:13], train[13:]]))
    np.testing.assert_allclose(mean_b, mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(std_b, std, rtol=1e-6)
    m0, s0 = fit_normalization(train, per_feature=False)
    assert m0.shape == s0.shape == ()
    assert float(m0) == pytest.approx(float(train.mean()), rel=1e-5)
    assert jax.jit(lambda n, x: n(x))(norm, test).shape == test.shape  # a pytree
    with pytest.raises(ParameterError, match="no examples"):
        fit_normalization(iter([]))
    with pytest.raises(ParameterError, match="disagree"):
        fit_normalization([train, test[:, :3]])


# --------------------------------------------------------------------- MLP
def test_mlp():
    forward = nnx.jit(lambda m, x: m(x))
    mlp = MLP(in_features=10, hidden=(16, 8), n_classes=3, rngs=nnx.Rngs(0))
    assert forward(mlp, jnp.ones((4, 10))).shape == (4, 3)
    assert n_params(mlp) == (10 * 16 + 16) + (16 * 8 + 8) + (8 * 3 + 3)
    assert n_params(MLP(in_features=10, hidden=(), n_classes=3, rngs=nnx.Rngs(0))) == 33
    drop = MLP(in_features=10, n_classes=3, dropout=0.5, rngs=nnx.Rngs(0))
    x = jnp.ones((4, 10))
    assert not np.allclose(forward(drop, x), forward(drop, x))
    drop.eval()
    np.testing.assert_array_equal(forward(drop, x), forward(drop, x))
    with pytest.raises(ParameterError, match=r"\(\.\.\., 10\)"):
        mlp(jnp.ones((4, 9)))
    with pytest.raises(ParameterError, match="hidden"):
        MLP(in_features=10, hidden=16, n_classes=3, rngs=nnx.Rngs(0))


# --------------------------------------------------------------------- scattering front end
@pytest.fixture(scope="module")
def scattering():
    return jaxmusic.Scattering1D(J=4, shape=1024, Q=(4, 1))


def test_scattering_classifier_step_saliency_and_frozen_filters(scattering):
    S = scattering
    model = ScatteringClassifier(S, n_classes=3, hidden=(32,), rngs=nnx.Rngs(0))
    assert model.in_features == S.output_size()
    # the filters are Fixed variables, not parameters
    params = nnx.state(model, nnx.Param)
    assert n_params(model) == (S.output_size() * 32 + 32) + (32 * 3 + 3)
    fixed = variables(nnx.state(model, Fixed), Fixed)
    assert len(fixed) == len(jax.tree.leaves(S)) > 0
    assert sum(np.size(v.get_value()) for v in fixed) == sum(np.size(f) for f in jax.tree.leaves(S))
    assert not variables(params, Fixed)

    audio = jax.random.normal(jax.random.key(0), (2, 1024))
    labels = jnp.array([0, 2])
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit  # one program: the train step, plus the two checks below
    def step(model, opt, x, y):
        def loss_fn(model, x):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

        # with respect to every variable (filters included) and to the input audio
        every, saliency = nnx.grad(loss_fn, argnums=(nnx.DiffState(0, nnx.Everything()), 1))(model, x)
        loss, grads = nnx.value_and_grad(loss_fn)(model, x)
        opt.update(model, grads)
        return loss, grads, every, saliency

    before = [np.asarray(v.get_value()) for v in variables(nnx.state(model, Fixed), Fixed)]
    loss, grads, every, saliency = step(model, opt, audio, labels)
    assert np.isfinite(float(loss))
    assert not variables(grads, Fixed) and variables(grads, nnx.Param)
    after = [np.asarray(v.get_value()) for v in variables(nnx.state(model, Fixed), Fixed)]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)  # the optimizer left the filters alone
    # even a gradient with respect to every variable is zero on the filters
    assert variables(every, Fixed)
    assert all(not np.any(np.asarray(v.get_value())) for v in variables(every, Fixed))
    # saliency: the gradient with respect to the input audio is finite and nonzero
    assert saliency.shape == audio.shape
    assert np.isfinite(np.asarray(saliency)).all() and np.abs(np.asarray(saliency)).max() > 0
    _, _, _, silence = step(model, opt, jnp.zeros_like(audio), labels)  # same program
    assert np.isfinite(np.asarray(silence)).all()


def test_scattering_classifier_precomputed(scattering):
    S = scattering
    audio = jax.random.normal(jax.random.key(1), (6, 1024))
    feats = models.scattering_features(S, audio)
    assert feats.shape == (6, S.output_size())
    norm = Standardizer.fit(feats)
    model = ScatteringClassifier(S, n_classes=4, standardizer=norm, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(model.features(audio), feats, rtol=1e-5, atol=1e-5)
    cached = ScatteringClassifier(S, n_classes=4, standardizer=norm, precomputed=True, rngs=nnx.Rngs(5))
    nnx.update(cached.classifier, nnx.state(model.classifier))
    np.testing.assert_allclose(cached(feats), model(audio), rtol=1e-4, atol=1e-5)
    flat = jax.eval_shape(lambda x: models.scattering_features(S, x, average=False), audio)
    assert flat.shape == (6, S.output_size() * (1024 // 16))
    with pytest.raises(ParameterError, match=r"\(batch, 1024\)"):
        model(audio[:, :512])
    with pytest.raises(ParameterError, match="precomputed"):
        cached(audio)
    with pytest.raises(ParameterError, match="n_samples"):
        ScatteringClassifier(lambda x: x[:, None, :], n_classes=2, rngs=nnx.Rngs(0))
    with pytest.raises(ParameterError, match="do not fit"):
        ScatteringClassifier(S, n_classes=2, standardizer=Standardizer(jnp.zeros(3), jnp.ones(3)), rngs=nnx.Rngs(0))


# --------------------------------------------------------------------- API
def test_public_api_conventions():
    for name in models.__all__:
        obj = getattr(models, name)
        if not callable(obj):
            continue
        assert (obj.__doc__ or "").strip(), name
        if isinstance(obj, type) and issubclass(obj, nnx.Module):
            sig = inspect.signature(obj.__init__)
            positional = [p for p in list(sig.parameters)[1:] if sig.parameters[p].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD]
            assert positional in ([], ["transform"]), (name, positional)


@pytest.mark.parametrize("branch, reads", [("spiral", (12, 59)), ("1-d", (60, 96)), ("2-d", (0, 88))])
def test_each_branch_reads_its_own_bins(branch, reads):
    """Spiral: 110 Hz-1.76 kHz (bins 12-59); 1-d: octaves 5-8 (bins 60-95); 2-d: all 96 bins.

    Valid convolutions followed by pools that drop remainders (the paper's geometry) leave
    the last bin of the spiral's top band (59) and the 2-d branch's top eight (88-95) unread.
    """
    from flax import nnx

    net = InstrumentConvNet(branches=(branch,), n_classes=8, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 96, 128, 1))
    base = net.features(x)
    lo, hi = reads
    outside = x.at[:, :lo].add(3.0).at[:, hi:].add(3.0)
    np.testing.assert_array_equal(net.features(outside), base)
    for b in (lo, hi - 1):  # the first and last bins the branch reads do change its output
        assert not np.allclose(net.features(x.at[:, b].add(3.0)), base)


def test_scattering_classifier_trains_with_the_loop(tmp_path):
    from flax import nnx

    from jaxmusic import Scattering1D, train

    S = Scattering1D(J=4, shape=1024, Q=(4, 1))
    rng = np.random.default_rng(0)
    t = np.arange(1024) / 8000
    f0 = rng.uniform(200, 400, 64)
    y = np.arange(64) % 2
    audio = np.where(y[:, None] == 0, np.sin(2 * np.pi * f0[:, None] * t), np.sign(np.sin(2 * np.pi * f0[:, None] * t)))
    audio = (audio * 0.3).astype(np.float32)
    model = ScatteringClassifier(S, n_classes=2, hidden=(16,), rngs=nnx.Rngs(0))
    fixed = [np.asarray(v) for v in jax.tree.leaves(nnx.state(model, Fixed))]
    r = train.fit(model, audio, y.astype(np.int32), steps=40, eval_every=20, batch_size=16, learning_rate=1e-2,
                  checkpoint_dir=tmp_path, progress=False)
    assert r.history[-1]["train_accuracy"] > 90  # sine vs square: told apart through the scattering layer
    for a, b in zip(fixed, jax.tree.leaves(nnx.state(model, Fixed))):
        np.testing.assert_array_equal(a, np.asarray(b))
