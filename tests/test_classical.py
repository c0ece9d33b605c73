"""Tests of jaxmusic.classical: the scikit-learn recognition protocol."""

import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
from sklearn.model_selection import KFold, cross_val_score

from jaxmusic._checks import ParameterError
from jaxmusic.classical import CLASSIFIERS, evaluate, make_classifier

N_CLASSES = 4


def blobs(n=240, d=8, seed=0, spread=1.0):
    """Four well-separated Gaussian blobs, split in half (train, test)."""
    X, y = make_blobs(n_samples=n, n_features=d, centers=N_CLASSES, cluster_std=spread,
                      center_box=(-10, 10), random_state=seed)
    return X[: n // 2], y[: n // 2], X[n // 2 :], y[n // 2 :]


def test_listing_and_make_classifier():
    assert list(CLASSIFIERS) == ["logreg", "svc", "knn", "rf10", "rf100"]
    for name in CLASSIFIERS:
        pipe = make_classifier(name, seed=3)
        assert [s for s, _ in pipe.steps][0] == "standardscaler"
        assert pipe is not make_classifier(name)  # fresh every time
    rf = make_classifier("rf100", seed=7).steps[-1][1]
    assert rf.n_estimators == 100 and rf.random_state == 7
    assert make_classifier("rf10").steps[-1][1].n_estimators == 10
    assert make_classifier("logreg").steps[-1][1].max_iter == 5000
    assert make_classifier("knn").steps[-1][1].n_neighbors == 5
    with pytest.raises(ParameterError, match=r"'mlp'.*logreg, svc, knn, rf10, rf100"):
        make_classifier("mlp")


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_separable_low_error_shuffled_chance(name):
    Xtr, ytr, Xte, yte = blobs()
    res = evaluate(Xtr, ytr, Xte, yte, classifier=name, n_classes=N_CLASSES)
    assert res["error"] < 5.0 and res["cv_error_mean"] < 5.0, res
    assert res["accuracy"] > 95.0
    # labels shuffled: nothing to learn, the error is near chance (75% for 4 classes)
    rng = np.random.default_rng(1)
    Xtr, ytr, Xte, yte = blobs(n=800, seed=2)
    res = evaluate(Xtr, rng.permutation(ytr), Xte, rng.permutation(yte), classifier=name,
                   n_classes=N_CLASSES)
    assert 60.0 < res["error"] < 90.0, res
    assert 60.0 < res["cv_error_mean"] < 90.0, res


def test_metric_and_cv_match_independent_sklearn():
    Xtr, ytr, Xte, yte = blobs(spread=4.0)  # overlapping: errors are not zero
    res = evaluate(Xtr, ytr, Xte, yte, classifier="rf10", n_classes=N_CLASSES, seed=2)
    clf = make_classifier("rf10", seed=2).fit(Xtr, ytr)
    pred = clf.predict(Xte)
    assert res["error"] > 1.0
    assert res["error"] == pytest.approx(100 * (1 - balanced_accuracy_score(yte, pred)))
    assert res["accuracy"] == pytest.approx(100 * np.mean(pred == yte))
    recall = [np.mean(pred[yte == c] == c) for c in range(N_CLASSES)]
    np.testing.assert_allclose(res["per_class_recall"], recall)
    assert res["error"] == pytest.approx(100 * (1 - np.mean(recall)))
    np.testing.assert_array_equal(res["confusion"], confusion_matrix(yte, pred))
    scores = cross_val_score(make_classifier("rf10", seed=2), Xtr, ytr,
                             cv=KFold(5, shuffle=True, random_state=5), scoring="balanced_accuracy")
    np.testing.assert_allclose(res["cv_errors"], 100 * (1 - scores))
    assert res["cv_error_mean"] == pytest.approx(np.mean(100 * (1 - scores)))
    assert res["cv_error_std"] == pytest.approx(np.std(100 * (1 - scores)))
    # another KFold seed gives other folds: the check above can fail
    other = cross_val_score(make_classifier("rf10", seed=2), Xtr, ytr,
                            cv=KFold(5, shuffle=True, random_state=6), scoring="balanced_accuracy")
    assert not np.allclose(res["cv_errors"], 100 * (1 - other))
    assert res["seconds"] > 0
    json.dumps(res)


def test_absent_test_class_is_nan_and_json():
    Xtr, ytr, Xte, yte = blobs()
    keep = yte != 3
    res = evaluate(Xtr, ytr, Xte[keep], yte[keep], classifier="logreg", n_classes=N_CLASSES,
                   folds=0)
    assert np.isnan(res["per_class_recall"][3])
    assert np.isfinite(res["per_class_recall"][:3]).all()
    assert np.asarray(res["confusion"]).shape == (N_CLASSES, N_CLASSES)
    assert res["cv_errors"] is None and res["cv_error_mean"] is None
    assert "NaN" in json.dumps(res)


def test_estimator_instance_is_cloned():
    Xtr, ytr, Xte, yte = blobs()
    est = make_classifier("knn")
    res = evaluate(Xtr, ytr, Xte, yte, classifier=est, n_classes=N_CLASSES)
    assert res["error"] < 5.0
    assert not hasattr(est, "classes_")  # the caller's estimator stays unfitted


def test_bad_input():
    Xtr, ytr, Xte, yte = blobs()
    ok = dict(classifier="knn", n_classes=N_CLASSES)
    with pytest.raises(ParameterError, match=r"X_train and y_train differ in length: 120 .* 119"):
        evaluate(Xtr, ytr[:-1], Xte, yte, **ok)
    with pytest.raises(ParameterError, match=r"X_test and y_test differ in length"):
        evaluate(Xtr, ytr, Xte[:-2], yte, **ok)
    with pytest.raises(ParameterError, match=r"X_train must be 2-d.*\(120, 8, 1\)"):
        evaluate(Xtr[..., None], ytr, Xte, yte, **ok)
    with pytest.raises(ParameterError, match=r"X_test must be 2-d.*\(960,\)"):
        evaluate(Xtr, ytr, Xte.ravel(), yte, **ok)
    with pytest.raises(ParameterError, match=r"\(120, 8\).*\(120, 7\)"):
        evaluate(Xtr, ytr, Xte[:, :7], yte, **ok)
    bad = Xtr.copy()
    bad[0, 0], bad[5, 2], bad[7, 1] = np.nan, np.inf, -np.inf
    with pytest.raises(ParameterError, match=r"X_train has 3 NaN or inf"):
        evaluate(bad, ytr, Xte, yte, **ok)
    with pytest.raises(ParameterError, match=r"X_test has 1 NaN"):
        evaluate(Xtr, ytr, np.where(np.arange(Xte.size).reshape(Xte.shape) == 3, np.nan, Xte),
                 yte, **ok)
    with pytest.raises(ParameterError, match=r"single class \(2, 120 notes\)"):
        evaluate(Xtr, np.full_like(ytr, 2), Xte, yte, **ok)
    # class 1 keeps 3 training notes: too few for 5 folds, enough for 3
    few = np.flatnonzero(ytr == 1)[3:]
    keep = np.setdiff1d(np.arange(len(ytr)), few)
    with pytest.raises(ParameterError, match=r"class 1 has 3.*fewer folds"):
        evaluate(Xtr[keep], ytr[keep], Xte, yte, **ok)
    res = evaluate(Xtr[keep], ytr[keep], Xte, yte, folds=3, **ok)
    assert len(res["cv_errors"]) == 3
    evaluate(Xtr[keep], ytr[keep], Xte, yte, folds=0, **ok)
    with pytest.raises(ParameterError, match=r"0\.\.3.*\[1, 4\]"):
        evaluate(Xtr, np.where(ytr == 0, 4, ytr), Xte, yte, **ok)
    with pytest.raises(ParameterError, match=r"folds"):
        evaluate(Xtr, ytr, Xte, yte, folds=1, **ok)
    with pytest.raises(ParameterError, match=r"'forest'"):
        evaluate(Xtr, ytr, Xte, yte, classifier="forest", n_classes=N_CLASSES)
    with pytest.raises(ParameterError, match=r"X_train is empty"):
        evaluate(Xtr[:0], ytr[:0], Xte, yte, **ok)
