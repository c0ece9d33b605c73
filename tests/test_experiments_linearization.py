"""Linearization: an MLP trained with jaxmusic.train.fit makes concentric circles linearly separable."""

import jax
import numpy as np
import pytest
from sklearn.datasets import make_circles

from jaxmusic import ParameterError
from jaxmusic.experiments.linearization import layer_activations, linear_separability, linearization


@pytest.fixture(scope="module")
def circles():
    x, y = make_circles(300, noise=0.05, factor=0.5, random_state=0)
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def result(circles, tmp_path_factory):
    x, y = circles
    out = tmp_path_factory.mktemp("lin")
    return linearization(jax.random.key(0), x, y, hidden=(32, 16), steps=600,
                         class_names=["inner", "outer"], out=out), out


def test_deeper_layers_are_linearly_separable(result):
    r, _ = result
    assert r.layers == ("input", "hidden 1", "hidden 2", "logits")
    # concentric circles: no straight line separates them at the input (measured 0.41-0.49
    # over three keys; every later layer 1.0)
    sep = dict(zip(r.layers, r.separability))
    held = dict(zip(r.layers, r.separability_held_out))
    assert sep["input"] < 0.7 and held["input"] < 0.7
    assert sep["hidden 2"] >= sep["input"]
    assert sep["hidden 2"] > 0.95 and held["hidden 2"] > 0.9
    assert r.mlp_error["held_out"] < 10.0


def test_shapes_and_figures(result, circles):
    r, out = result
    x, _ = circles
    widths = [a.shape[1] for a in r.activations]
    assert widths == [2, 32, 16, 2]
    assert all(a.shape[0] == len(x) for a in r.activations)
    assert all(p.shape == (len(x), 2) for p in r.pca2) and all(p.shape == (len(x), 3) for p in r.pca3)
    assert np.all(r.pca3[0][:, 2] == 0)  # a 2-d input has no third component
    assert r.held_out.sum() == 75
    assert (out / "linearization.png").stat().st_size > 10_000
    assert (out / "linearization_3d.png").stat().st_size > 10_000
    # the input layer is the standardized input; the logits are the model's output
    acts = layer_activations(r.model, r.activations[0])
    np.testing.assert_allclose(acts[-1], np.asarray(r.model(r.activations[0])), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(r.activations[0][~r.held_out].mean(axis=0), 0.0, atol=1e-5)


def test_linear_separability():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    separable = rng.normal(size=(100, 2)) + 6.0 * y[:, None]
    assert linear_separability(separable, y) == 1.0
    xor = rng.choice([-1.0, 1.0], size=(100, 2)) + 0.1 * rng.normal(size=(100, 2))
    assert linear_separability(xor, (xor[:, 0] * xor[:, 1] > 0).astype(int)) < 0.7
    assert linear_separability(separable[::2], y[::2], test=(separable[1::2], y[1::2])) == 1.0


def test_bad_input(circles):
    x, y = circles
    key = jax.random.key(0)
    with pytest.raises(ParameterError, match="single class"):
        linearization(key, x, np.zeros(len(x), int))
    with pytest.raises(ParameterError, match=r"labels must have shape \(300,\)"):
        linearization(key, x, y[:10])
    bad = x.copy()
    bad[7, 0] = np.nan
    with pytest.raises(ParameterError, match=r"NaN or inf in 1 points \(rows \[7\]\)"):
        linearization(key, bad, y)
    with pytest.raises(ParameterError, match="2-d"):
        linearization(key, x[:, 0], y)
    with pytest.raises(ParameterError, match="at least 5 points"):
        linearization(key, x[:103], np.r_[np.zeros(100, int), np.ones(3, int)])
    with pytest.raises(ParameterError, match="integers"):
        linearization(key, x, y.astype(float))
    with pytest.raises(ParameterError, match="test_fraction"):
        linearization(key, x, y, test_fraction=1.0)
    with pytest.raises(ParameterError, match="hidden"):
        linearization(key, x, y, hidden=(0,), steps=1)
