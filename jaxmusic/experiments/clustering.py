r"""Clustering: k-means in JAX, and the clusters of the built-in notes against their instruments.

`kmeans` is scikit-learn's ``KMeans(algorithm="lloyd", init="k-means++")``
written for XLA, one compiled program for all restarts:

* k-means++ seeding (Arthur & Vassilvitskii 2007) in its greedy form, as
  scikit-learn: each new centre is the best, by the potential
  ``sum_i min_j ||x_i - c_j||^2`` it leaves, of ``2 + floor(log k)`` candidates
  drawn with probability proportional to the squared distance to the nearest
  centre so far;
* Lloyd iterations in `jax.lax.while_loop`: squared distances as
  ``||x||^2 - 2 x c^T + ||c||^2`` (one matrix product), labels by ``argmin``,
  centroids as ``onehot(labels)^T x / counts`` (a second one), an empty cluster
  moved to the point farthest from its centroid; stop when the labels no longer
  change or when the total squared centroid shift is at most
  ``tol * mean(var(x, axis=0))`` (scikit-learn's relative tolerance);
* ``n_init`` restarts: the seedings as one `jax.vmap` over the restarts' keys, then
  each restart's Lloyd loop on its own (`jax.lax.map`), and the run with the lowest
  inertia is kept. A `jax.vmap` of the Lloyd loops would run every restart until
  the slowest has converged (on the benchmark's mixture, 67 iterations for all ten
  against 44 on average), and it turns the centroid scatter-adds into a batched
  scatter that copies the points once per restart (10x slower on CPU than ten
  scatters; a one-hot matrix product instead costs ``k`` times the additions).
  The data are centred first (k-means is translation-invariant; it keeps the
  expansion of the distances accurate in float32); the labels and inertia are
  those of the final centroids, the inertia summed exactly, not expanded.

Measured (``benchmarks/kmeans.py``: 10^5 x 100 float32 points from a mixture of 16
Gaussians, k=16, n_init=10, on two CPU cores shared with other work, load 4 to 6,
two runs): 4.4 and 6.1 s per fit against scikit-learn's 14.4 and 14.2 s (3.3x and
2.3x faster), the same inertia (ratio 1.0000), after 8.4 s of compilation (once per
shape, ``k``, ``n_init`` and ``max_iter``). On gm8's MFCC statistics the mean inertia over 20 seeds is within
0.1 to 0.6 % of scikit-learn's, above or below, at k = 4, 8 and 16.

`cluster_purity` scores clusters against classes; `run_kmeans` clusters MFCC
statistics of gm8 notes and compares them with the instruments.
"""

from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_int, check_real, is_concrete
from .._files import claim_dir, write_json

__all__ = ["KMeansResult", "kmeans", "cluster_purity", "figure_kmeans", "run_kmeans"]

_HIGHEST = jax.lax.Precision.HIGHEST


class KMeansResult(NamedTuple):
    """What `kmeans` returns (the best of its restarts).

    Attributes
    ----------
    centroids : jax.Array, shape (k, d)
    labels : jax.Array, shape (n,), int32
        Index of each point's nearest centroid.
    inertia : jax.Array, shape ()
        Sum of squared distances of the points to their centroids.
    n_iter : jax.Array, shape (), int32
        Lloyd iterations of the kept restart.
    """

    centroids: jax.Array
    labels: jax.Array
    inertia: jax.Array
    n_iter: jax.Array


def _scores(x, c):
    """``||c_j||^2 - 2 x_i . c_j``: the squared distances less ``||x_i||^2`` (constant per
    point, so the same argmin): (n, d), (k, d) -> (n, k)."""
    return jnp.sum(c * c, axis=1)[None, :] - 2.0 * jnp.matmul(x, c.T, precision=_HIGHEST)


def _kmeans_plusplus(key, x, x_sq, k):
    """Greedy k-means++ seeding of one restart: (k, d) centroids."""
    n = x.shape[0]
    trials = 2 + int(math.log(k))
    # every random number up front: the loop below holds no PRNG (faster to compile)
    first, rest = jax.random.split(key)
    i0 = jax.random.randint(first, (), 0, n)
    u = jax.random.uniform(rest, (k, trials), dtype=x.dtype)
    centers = jnp.zeros((k, x.shape[1]), x.dtype).at[0].set(x[i0])
    closest = jnp.maximum(x_sq + _scores(x, x[i0][None, :])[:, 0], 0.0)

    def body(j, state):
        centers, closest = state
        cum = jnp.cumsum(closest)
        ids = jnp.searchsorted(cum, u[j] * cum[-1], method="compare_all")
        ids = jnp.clip(ids, 0, n - 1)
        d = jnp.minimum(closest[:, None], jnp.maximum(x_sq[:, None] + _scores(x, x[ids]), 0.0))  # (n, trials)
        best = jnp.argmin(jnp.sum(d, axis=0))
        return centers.at[j].set(x[ids[best]]), d[:, best]

    centers, _ = jax.lax.fori_loop(1, k, body, (centers, closest))
    return centers


def _lloyd(centers, x, x_sq, tol, *, max_iter):
    """Lloyd iterations of one restart from ``centers`` (k, d): (centroids, labels, n_iter,
    inertia from the expanded distances)."""
    n = x.shape[0]
    k = centers.shape[0]
    ones = jnp.ones((n,), x.dtype)

    def assign(c):
        s = _scores(x, c)
        labels = jnp.argmin(s, axis=1).astype(jnp.int32)
        return labels, jnp.maximum(x_sq + jnp.take_along_axis(s, labels[:, None], axis=1)[:, 0], 0.0)

    def body(state):
        c, labels, _, it, _ = state
        new_labels, mind = assign(c)
        # scatter-adds (n d additions), not a one-hot matrix product (n d k multiply-adds)
        sums = jax.ops.segment_sum(x, new_labels, num_segments=k, indices_are_sorted=False)
        counts = jax.ops.segment_sum(ones, new_labels, num_segments=k)
        new = sums / jnp.maximum(counts, 1.0)[:, None]
        # an empty cluster takes one of the points farthest from their centroids (scikit-learn's rule)
        empty = counts == 0
        far = jax.lax.top_k(mind, k)[1]
        rank = jnp.clip(jnp.cumsum(empty) - 1, 0, k - 1)
        new = jnp.where(empty[:, None], x[far[rank]], new)
        same = jnp.all(new_labels == labels)  # strict convergence: nothing moves any more
        new = jnp.where(same, c, new)
        return new, new_labels, jnp.sum((new - c) ** 2), it + 1, same

    def cond(state):
        _, _, shift, it, same = state
        return (it < max_iter) & (shift > tol) & ~same

    init = (centers, jnp.full((n,), -1, jnp.int32), jnp.asarray(jnp.inf, x.dtype),
            jnp.asarray(0, jnp.int32), jnp.asarray(False))
    c, _, _, it, _ = jax.lax.while_loop(cond, body, init)
    labels, mind = assign(c)  # the labels of the final centroids
    return c, labels, it, jnp.sum(mind)


@partial(jax.jit, static_argnames=("k", "n_init", "max_iter"))
def _kmeans(key, x, tol, *, k, n_init, max_iter):
    mean = jnp.mean(x, axis=0)
    x = x - mean
    x_sq = jnp.sum(x * x, axis=1)
    tol = tol * jnp.mean(jnp.var(x, axis=0))
    seeds = jax.vmap(lambda key: _kmeans_plusplus(key, x, x_sq, k))(jax.random.split(key, n_init))
    # each restart's Lloyd loop runs on its own (see the module docstring: vmap would run
    # every restart until the slowest has converged, and batch the scatter-adds badly)
    c, labels, it, approx = jax.lax.map(lambda c0: _lloyd(c0, x, x_sq, tol, max_iter=max_iter), seeds)
    best = jnp.argmin(approx)
    c, labels = c[best], labels[best]
    inertia = jnp.sum((x - c[labels]) ** 2)  # exact, not from the expanded distances
    return KMeansResult(centroids=c + mean, labels=labels, inertia=inertia, n_iter=it[best])


def kmeans(key: jax.Array, x: Any, k: int, *, n_init: int = 10, max_iter: int = 300,
           tol: float = 1e-4) -> KMeansResult:
    """k-means clustering (Lloyd's algorithm, k-means++ seeding, ``n_init`` restarts), in JAX.

    Parameters
    ----------
    key : jax.Array
        PRNG key: the seeding of every restart (the same key gives the same result).
    x : array, shape (n, d), real
        Points (converted to float32, or kept float64 with ``jax_enable_x64``).
    k : int
        Number of clusters, ``1 <= k <= n`` (static: one compilation per value).
    n_init : int, keyword-only
        Restarts, run together (`jax.vmap`); the lowest inertia is kept (default 10).
    max_iter : int, keyword-only
        Most Lloyd iterations per restart (default 300).
    tol : float, keyword-only
        Stop when the squared centroid shift, summed over the centroids, is at most
        ``tol`` times the mean variance of the features (scikit-learn's rule;
        default 1e-4); a restart also stops when its labels no longer change.

    Returns
    -------
    KMeansResult
        ``centroids`` (k, d), ``labels`` (n,) int32 (each point's nearest centroid),
        ``inertia`` () and ``n_iter`` () of the best restart.

    Raises
    ------
    ParameterError
        ``x`` not 2-d real, NaN or inf in ``x`` (when concrete), ``k < 1`` or
        ``k`` above the number of points, bad ``n_init``, ``max_iter`` or ``tol``.

    Notes
    -----
    Works under `jax.jit` with ``k``, ``n_init`` and ``max_iter`` static, e.g.
    ``jax.jit(kmeans, static_argnums=2, static_argnames=("n_init", "max_iter"))``.
    Memory: the ``n_init`` restarts hold ``n_init * n * k`` distances at once.

    Examples
    --------
    >>> r = kmeans(jax.random.key(0), x, 16)      # x: (n, d)
    >>> r.centroids.shape, r.labels.shape
    ((16, d), (n,))
    """
    shape = getattr(x, "shape", None)
    if shape is None:
        x = np.asarray(x)
        shape = x.shape
    if len(shape) != 2:
        raise ParameterError(f"x must be a 2-d array of points (n, d), got shape {tuple(shape)}")
    dtype = np.dtype(getattr(x, "dtype", np.float32))
    if dtype.kind not in "fiu":
        raise ParameterError(f"x must be real (float or integer), got dtype {dtype}")
    n = int(shape[0])
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ParameterError(f"k must be an integer number of clusters, got {k!r} ({type(k).__name__})")
    if k < 1:
        raise ParameterError(f"k must be >= 1, got k={k}")
    if k > n:
        raise ParameterError(f"k={k} clusters need at least {k} points, x has n={n}")
    if shape[1] < 1:
        raise ParameterError(f"x must have at least one feature, got shape {tuple(shape)}")
    n_init = check_int("n_init", n_init, min=1)
    max_iter = check_int("max_iter", max_iter, min=1)
    tol = check_real("tol", tol, min=0.0)
    x = jnp.asarray(x)
    if x.dtype != jnp.float64:
        x = x.astype(jnp.float32)
    if is_concrete(x) and not bool(jnp.isfinite(x).all()):
        bad = np.flatnonzero(~np.isfinite(np.asarray(x)).all(axis=1))
        raise ParameterError(f"x holds NaN or inf in {bad.size} points (rows {bad[:10].tolist()}"
                             f"{'...' if bad.size > 10 else ''})")
    return _kmeans(key, x, jnp.asarray(tol, x.dtype), k=int(k), n_init=n_init, max_iter=max_iter)


def cluster_purity(labels: Any, classes: Any) -> float:
    """Purity of a clustering: the share of points in their cluster's majority class.

    ``(1 / n) * sum over clusters of max over classes |cluster ∩ class|``: 1 when
    every cluster holds one class (more clusters than classes can still score 1),
    ``max class share`` at worst with one cluster.

    Parameters
    ----------
    labels : array, shape (n,)
        Cluster of each point (any hashable values).
    classes : array, shape (n,)
        True class of each point (ints or strings).

    Returns
    -------
    float in (0, 1]

    Raises
    ------
    ParameterError
        Arrays that are not 1-d, of different lengths, or empty.
    """
    a = np.asarray(labels)
    b = np.asarray(classes)
    if a.ndim != 1 or b.ndim != 1:
        raise ParameterError(f"labels and classes must be 1-d, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ParameterError(f"labels ({a.size}) and classes ({b.size}) must have the same length")
    if a.size == 0:
        raise ParameterError("labels and classes are empty")
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1), dtype=np.int64)
    np.add.at(table, (ai, bi), 1)
    return float(table.max(axis=1).sum() / a.size)


def figure_kmeans(features, labels, path, *, classes=None, class_names=None, title: str = "") -> Path:
    """Points in the plane of their first two principal components, coloured by
    cluster and marked by class.

    Parameters
    ----------
    features : array, shape (n, d)
    labels : array, shape (n,) int
        Clusters.
    path : str or path-like (PNG)
    classes : array, shape (n,) int, optional, keyword-only
        Class of each point, into ``class_names`` (default: one class).
    class_names : sequence of str, optional, keyword-only
    title : str, keyword-only

    Returns
    -------
    Path
    """
    from sklearn.decomposition import PCA

    from ..plot import _pyplot, _save

    plt = _pyplot()
    X = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    classes = np.zeros(len(labels), int) if classes is None else np.asarray(classes)
    if class_names is None:
        class_names = [str(c) for c in range(int(classes.max()) + 1)]
    pca = PCA(2).fit(X)
    P = pca.transform(X)
    markers = "o^sDvP*Xh<>p"
    cmap = plt.get_cmap("tab10" if labels.max() < 10 else "tab20")
    fig, ax = plt.subplots(figsize=(9.5, 6))
    for c in np.unique(classes):
        m = classes == c
        ax.scatter(P[m, 0], P[m, 1], c=[cmap(int(v) % cmap.N) for v in labels[m]],
                   marker=markers[int(c) % len(markers)], s=22, edgecolors="k", linewidths=0.3,
                   label=str(class_names[int(c)]))
    leg = ax.legend(fontsize=7, title="class (marker)", title_fontsize=7, loc="upper left",
                    bbox_to_anchor=(1.01, 1.0))
    for h in leg.legend_handles:
        h.set_facecolor("0.7")
    ax.add_artist(leg)
    from matplotlib.patches import Patch

    sizes = np.bincount(labels.astype(int))
    ax.legend(handles=[Patch(color=cmap(int(k) % cmap.N), label=f"cluster {k} ({sizes[k]} notes)")
                       for k in np.unique(labels)],
              fontsize=7, title="cluster (colour)", title_fontsize=7, loc="lower left", bbox_to_anchor=(1.01, 0.0))
    ev = pca.explained_variance_ratio_
    ax.set_xlabel(f"PC 1 ({100 * ev[0]:.0f}% of the variance)")
    ax.set_ylabel(f"PC 2 ({100 * ev[1]:.0f}%)")
    ax.set_title(title or "k-means clusters (colour) and classes (marker)", fontsize=9)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def run_kmeans(out="runs/kmeans", *, quick: bool = False, seed: int = 0, verbose: bool = True, force: bool = False) -> dict:
    """Cluster MFCC statistics of the built-in notes; purity against the instruments.

    The notes of `jaxmusic.data.gm8` (TimGM6mb; every 2nd semitone at three
    velocities, 534 notes; ``quick``: every 4th at one velocity, 91 notes), their
    MFCC mean and standard deviation over time
    (`jaxmusic.experiments.representations.note_features`, 40 numbers),
    standardized; `kmeans` with ``k`` = the number of classes (8) and 10
    restarts, beside scikit-learn's KMeans with the same options, and the purity
    of both against the instruments (and of ``k = 2 * 8`` clusters). Writes
    ``kmeans.png`` (PCA plane, colour: cluster, marker: instrument) and
    ``kmeans.json``.

    Parameters
    ----------
    out : str or path-like
    quick : bool, keyword-only
        Fewer notes (seconds).
    seed : int, keyword-only
        Seeds the PRNG key (and scikit-learn's ``random_state``).
    verbose : bool, keyword-only

    Returns
    -------
    dict
        The summary written to ``kmeans.json``.
    """
    from sklearn.cluster import KMeans

    from ..data.soundfont import gm8
    from .representations import note_features

    say = print if verbose else (lambda *a, **k: None)
    t0 = time.perf_counter()
    out = claim_dir(out, "experiment-kmeans", force=force)
    ds = gm8(sr=16000, duration=1.0, pitch_step=4 if quick else 2,
             velocities=(75,) if quick else (50, 75, 100))
    feats = note_features(ds, "mfcc", progress=False)
    X = (feats - feats.mean(axis=0)) / np.maximum(feats.std(axis=0), 1e-12)
    n_classes = len(ds.classes)
    summary = {"notes": len(ds), "features": "mfcc mean and std (standardized)", "dim": int(X.shape[1]),
               "classes": list(ds.classes), "runs": {}}
    best = None
    for k in (n_classes, 2 * n_classes):
        t = time.perf_counter()
        r = kmeans(jax.random.key(seed), X, k, n_init=10)
        labels = np.asarray(r.labels)
        t_jm = time.perf_counter() - t
        t = time.perf_counter()
        sk = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(X)
        t_sk = time.perf_counter() - t
        row = {"k": k, "inertia": float(r.inertia), "sklearn_inertia": float(sk.inertia_),
               "purity": cluster_purity(labels, ds.label),
               "sklearn_purity": cluster_purity(sk.labels_, ds.label),
               "n_iter": int(r.n_iter), "seconds": t_jm, "sklearn_seconds": t_sk}
        summary["runs"][str(k)] = row
        if best is None:
            best = labels
        say(f"k={k}: purity {row['purity']:.3f} (scikit-learn {row['sklearn_purity']:.3f}), inertia "
            f"{row['inertia']:.1f} (scikit-learn {row['sklearn_inertia']:.1f})")
    chance = float(np.bincount(ds.label).max() / len(ds))
    summary["majority_class_share"] = chance
    figure_kmeans(X, best, out / "kmeans.png", classes=ds.label, class_names=ds.classes,
                  title=f"k-means, k={n_classes}, on MFCC statistics of {len(ds)} gm8 notes: purity "
                        f"{summary['runs'][str(n_classes)]['purity']:.2f} (one cluster: {chance:.2f})")
    summary["seconds"] = time.perf_counter() - t0
    write_json(out / "kmeans.json", summary)
    say(f"wrote {out / 'kmeans.png'} ({summary['seconds']:.1f} s)")
    return summary
