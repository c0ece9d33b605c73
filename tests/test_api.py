"""API conventions, enforced over every public function (dm_pix's habit).

- options are keyword-only: at most three leading data arguments are positional
  (four for functions made to be ``vmap``-ped over note parameters);
- a PRNG ``key`` argument comes first;
- every public function and class has a docstring;
- every transform class is a pytree whose flatten/unflatten round trip rebuilds it.
"""

import inspect

import jax
import pytest

import jaxmusic
from jaxmusic import audio, classical, data, experiments, features, fourier, geometry, models, synthesis, train

MODULES = [jaxmusic, fourier, features, geometry, audio, data, models, train, classical, experiments, synthesis]
# data records and note synthesizers whose positional arguments are all data
MANY_POSITIONAL = {"Dataset": 8, "synthetic_note": 4, "Steps": 6, "TrainState": 4, "FitResult": 7,
                   "evaluate": 4,
                   # result records (NamedTuples) of the experiments
                   "Helix": 6, "KMeansResult": 4, "Linearization": 10, "Inversion": 4, "StyleTransfer": 5}  # classical.evaluate(X_train, y_train, X_test, y_test), as scikit-learn


def _public():
    seen = set()
    for mod in MODULES:
        for name in mod.__all__:
            obj = getattr(mod, name)
            if id(obj) in seen or inspect.ismodule(obj) or not callable(obj):
                continue
            if isinstance(obj, type) and issubclass(obj, BaseException | Warning):
                continue
            seen.add(id(obj))
            yield f"{mod.__name__}.{name}", name, obj


PUBLIC = list(_public())


def test_every_name_in_all_exists():
    for mod in MODULES:
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.__all__ lists missing {name}"


@pytest.mark.parametrize("qualname, name, obj", PUBLIC, ids=[p[0] for p in PUBLIC])
def test_conventions(qualname, name, obj):
    assert (obj.__doc__ or "").strip(), f"{qualname} has no docstring"
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError) as err:  # a signature users and tools cannot read is a failure too
        pytest.fail(f"{qualname} has no readable signature: {type(err).__name__}: {err}")
    params = list(sig.parameters.values())
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if isinstance(obj, type) and hasattr(obj, "__dataclass_fields__") and name not in MANY_POSITIONAL:
        return  # transform constructors follow kymatio's positional signatures
    assert len(positional) <= MANY_POSITIONAL.get(name, 3), (
        f"{qualname}: options must be keyword-only, positional are {positional}"
    )
    if "key" in sig.parameters:
        assert positional[:1] == ["key"], f"{qualname}: the PRNG key must come first"


@pytest.mark.parametrize(
    "make",
    [
        lambda: jaxmusic.Scattering1D(J=4, shape=256, Q=(2, 1)),
        lambda: jaxmusic.TimeFrequencyScattering(J=4, J_fr=1, shape=256, Q=(2, 1)),
        lambda: jaxmusic.SpiralScattering(J=5, shape=512, Q=4),
        lambda: features.MelSpectrogram(sr=8000, n_fft=256, n_mels=16),
        lambda: features.MFCC(sr=8000, n_fft=256, n_mels=16, n_mfcc=8),
        lambda: features.CQT(sr=8000, n_bins=12, fmin=200.0),
    ],
    ids=["Scattering1D", "TimeFrequencyScattering", "SpiralScattering", "MelSpectrogram", "MFCC", "CQT"],
)
def test_transforms_are_pytrees(make):
    t = make()
    leaves, treedef = jax.tree_util.tree_flatten(t)
    assert leaves, "filters must be leaves"
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert type(rebuilt) is type(t)
    assert jax.tree_util.tree_structure(rebuilt) == treedef
