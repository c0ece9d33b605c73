"""The classical instrument-recognition protocol, with scikit-learn.

A feature vector per note (MFCC or scattering statistics, see
`jaxmusic.experiments.representations`) goes through a standardised classifier
(``make_pipeline(StandardScaler(), clf)``), the one the recognition table of the
ISMIR 2016 paper reports (Lostanlen & Cella, "Deep convolutional networks on
the pitch spiral for musical instrument recognition") uses as its baseline: a
random forest of 100 trees.

The metric is that paper's: the error is one minus the mean per-class recall
(``1 - balanced accuracy``), so that a classifier cannot score well by favouring
the large classes. `evaluate` reports it in percent on a held-out test set and
over the folds of a shuffled ``KFold(5, shuffle=True, random_state=5)`` on the
training set, with accuracy, per-class recall and the confusion matrix beside it.

Everything statistical is scikit-learn's (pipelines, ``KFold``,
``cross_val_score``, ``balanced_accuracy_score``, ``recall_score``,
``confusion_matrix``); this module only fixes the protocol and checks its inputs.
"""

from __future__ import annotations

import numbers
import time
import types
import warnings
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, recall_score
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ._checks import ParameterError, check_int

__all__ = ["CLASSIFIERS", "CV_RANDOM_STATE", "make_classifier", "evaluate"]

#: ``random_state`` of the shuffled ``KFold`` of the protocol (the seed's value).
CV_RANDOM_STATE = 5

#: The seed's classifiers, as unfitted scikit-learn pipelines (templates: get a
#: fresh, seeded copy from `make_classifier`; do not fit these).
CLASSIFIERS = types.MappingProxyType({
    "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
    "svc": make_pipeline(StandardScaler(), SVC()),
    "knn": make_pipeline(StandardScaler(), KNeighborsClassifier(5)),
    "rf10": make_pipeline(StandardScaler(), RandomForestClassifier(10, random_state=0)),
    "rf100": make_pipeline(StandardScaler(), RandomForestClassifier(100, random_state=0)),  # ISMIR 2016
})


def make_classifier(name: str, *, seed: int = 0) -> Pipeline:
    """A fresh, unfitted pipeline ``StandardScaler -> classifier`` of `CLASSIFIERS`.

    Parameters
    ----------
    name : {"logreg", "svc", "knn", "rf10", "rf100"}
        Logistic regression (``max_iter=5000``), RBF support-vector machine,
        5-nearest neighbours, random forests of 10 and 100 trees (``"rf100"`` is
        the ISMIR 2016 baseline).
    seed : int, keyword-only
        ``random_state`` of the classifier, for those that have one (the random
        forests draw their bootstrap samples and features with it; the others
        are deterministic with their default solvers).

    Returns
    -------
    sklearn.pipeline.Pipeline

    Raises
    ------
    ParameterError
        Unknown ``name`` (the message lists the known ones), or a seed that is not
        a non-negative integer.
    """
    if not isinstance(name, str) or name not in CLASSIFIERS:
        raise ParameterError(
            f"unknown classifier {name!r}; known classifiers: {', '.join(CLASSIFIERS)}"
        )
    seed = check_int("seed", seed, min=0)
    pipe = clone(CLASSIFIERS[name])
    step, clf = pipe.steps[-1]
    if "random_state" in clf.get_params(deep=False):
        pipe.set_params(**{f"{step}__random_state": seed})
    return pipe


# ------------------------------------------------------------------ checks
def _features(name: str, X: Any) -> np.ndarray:
    try:
        X = np.asarray(X)
    except Exception as err:  # ragged lists and the like
        raise ParameterError(f"{name} must be an array of shape (n_notes, n_features): {err}") from err
    if X.ndim != 2:
        raise ParameterError(
            f"{name} must be 2-d (n_notes, n_features), got shape {X.shape}; "
            "flatten or average each note's features to one vector first"
        )
    if X.dtype.kind not in "biuf":
        raise ParameterError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ParameterError(f"{name} is empty (shape {X.shape})")
    X = X.astype(np.float64, copy=False)
    bad = int(X.size - np.count_nonzero(np.isfinite(X)))
    if bad:
        raise ParameterError(
            f"{name} has {bad} NaN or inf values (shape {X.shape}); check the feature "
            "extraction (a log of zero?) before classifying"
        )
    return X


def _labels(name: str, y: Any, n: int, n_classes: int, X_name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"{name} must be 1-d (n_notes,), got shape {y.shape}")
    if y.shape[0] != n:
        raise ParameterError(
            f"{X_name} and {name} differ in length: {n} feature rows but {y.shape[0]} labels"
        )
    if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise ParameterError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= n_classes:
        raise ParameterError(
            f"{name} must hold class indices in 0..{n_classes - 1} (n_classes={n_classes}), "
            f"got values in [{y.min()}, {y.max()}]"
        )
    return y


def _estimator(classifier: Any, seed: int):
    if isinstance(classifier, str):
        return make_classifier(classifier, seed=seed)
    if hasattr(classifier, "fit") and hasattr(classifier, "predict"):
        return clone(classifier)
    raise ParameterError(
        f"classifier must be a name ({', '.join(CLASSIFIERS)}) or a scikit-learn estimator, "
        f"got {type(classifier).__name__}"
    )


# ------------------------------------------------------------------ protocol
def evaluate(
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    *,
    classifier: Any,
    n_classes: int,
    seed: int = 0,
    folds: int = 5,
) -> dict:
    """Cross-validate on the training set, then fit on all of it and score the test set.

    Parameters
    ----------
    X_train : array, shape (n_train, d)
    y_train : array of int, shape (n_train,)
        Class indices in ``0 .. n_classes - 1``.
    X_test : array, shape (n_test, d)
    y_test : array of int, shape (n_test,)
    classifier : str or scikit-learn estimator, keyword-only
        A name of `CLASSIFIERS` (built by `make_classifier` with ``seed``), or an
        estimator (cloned; ``seed`` is then not applied).
    n_classes : int >= 2, keyword-only
        Number of classes: the length of ``per_class_recall`` and the size of the
        confusion matrix (classes may be absent from either set).
    seed : int, keyword-only
        ``random_state`` of the classifier (see `make_classifier`).
    folds : int, keyword-only
        Folds of the cross-validation: ``KFold(folds, shuffle=True, random_state=5)``
        (5, the protocol's); 0 skips it.

    Returns
    -------
    dict, JSON-serialisable (floats and lists):

    * ``error``: test error in percent, ``100 * (1 - balanced accuracy)``: one minus
      the mean recall over the classes present in ``y_test``;
    * ``accuracy``: test accuracy in percent;
    * ``per_class_recall``: list of ``n_classes`` recalls in [0, 1], NaN for a class
      absent from ``y_test`` (``json.dumps`` writes it as ``NaN``);
    * ``confusion``: ``n_classes x n_classes`` list of lists of counts, rows the true
      class, columns the predicted one;
    * ``cv_errors``: the error in percent of each fold (scikit-learn's
      ``balanced_accuracy`` on the fold: the mean recall over the classes present in
      it), ``cv_error_mean`` and ``cv_error_std`` (population standard deviation)
      over the folds; None when ``folds=0``;
    * ``seconds``: wall time of the whole evaluation (the cross-validation, fitting on the
      training set and predicting the test set); ``fit_seconds``: fitting and predicting
      alone.

    Raises
    ------
    ParameterError
        Features not 2-d, empty, non-numeric or with NaN/inf (counted); features and
        labels of different lengths; train and test feature dimensions that differ;
        labels outside ``0 .. n_classes - 1``; a single class in ``y_train``; with
        cross-validation, a class with fewer training notes than ``folds``.
    """
    n_classes = check_int("n_classes", n_classes, min=2)
    seed = check_int("seed", seed, min=0)
    if isinstance(folds, bool) or not isinstance(folds, numbers.Integral) or folds == 1 or folds < 0:
        raise ParameterError(f"folds must be 0 (no cross-validation) or an integer >= 2, got {folds!r}")
    folds = int(folds)
    X_train = _features("X_train", X_train)
    X_test = _features("X_test", X_test)
    y_train = _labels("y_train", y_train, X_train.shape[0], n_classes, "X_train")
    y_test = _labels("y_test", y_test, X_test.shape[0], n_classes, "X_test")
    if X_train.shape[1] != X_test.shape[1]:
        raise ParameterError(
            f"X_train and X_test have different feature dimensions: X_train has shape "
            f"{X_train.shape}, X_test has shape {X_test.shape}"
        )
    counts = np.bincount(y_train, minlength=n_classes)
    present = np.flatnonzero(counts)
    if present.size < 2:
        raise ParameterError(
            f"y_train holds a single class ({int(present[0])}, {int(counts[present[0]])} notes); "
            "a classifier needs at least two"
        )
    if folds:
        few = [(int(c), int(counts[c])) for c in present if counts[c] < folds]
        if few:
            listed = ", ".join(f"class {c} has {k}" for c, k in few)
            raise ParameterError(
                f"cross-validation with {folds} folds needs at least {folds} training notes per "
                f"class: {listed}; use fewer folds (folds=0 skips cross-validation)"
            )

    estimator = _estimator(classifier, seed)
    begin = time.perf_counter()
    with warnings.catch_warnings():
        # scikit-learn's notice that a prediction names a class absent from y_true:
        # balanced accuracy then averages over the classes present, as documented
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        cv = {"cv_errors": None, "cv_error_mean": None, "cv_error_std": None}
        if folds:
            scores = cross_val_score(
                clone(estimator), X_train, y_train, scoring="balanced_accuracy",
                cv=KFold(folds, shuffle=True, random_state=CV_RANDOM_STATE), error_score="raise",
            )
            errors = 100.0 * (1.0 - np.asarray(scores, dtype=np.float64))
            cv = {"cv_errors": [float(e) for e in errors], "cv_error_mean": float(errors.mean()),
                  "cv_error_std": float(errors.std())}
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        y_pred = np.asarray(estimator.predict(X_test))
        seconds = time.perf_counter() - start
        balanced = balanced_accuracy_score(y_test, y_pred)
        recall = recall_score(y_test, y_pred, labels=np.arange(n_classes), average=None,
                              zero_division=np.nan)
    confusion = confusion_matrix(y_test, y_pred, labels=np.arange(n_classes))
    return {
        "error": float(100.0 * (1.0 - balanced)),
        "accuracy": float(100.0 * np.mean(y_pred == y_test)),
        "per_class_recall": [float(r) for r in recall],
        "confusion": confusion.astype(int).tolist(),
        "cv_error_mean": cv["cv_error_mean"],
        "cv_error_std": cv["cv_error_std"],
        "cv_errors": cv["cv_errors"],
        "seconds": float(time.perf_counter() - begin),
        "fit_seconds": float(seconds),
    }
