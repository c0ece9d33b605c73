"""k-means: jaxmusic's `kmeans` (jit) vs scikit-learn's KMeans on the same points, same run.

    python benchmarks/kmeans.py [--n 100000] [--d 100] [--k 16] [--n-init 10] [--repeats 3]

The points are a Gaussian mixture in float32: ``--k`` centres drawn from N(0, I_d),
``--n`` points, each a centre plus N(0, I_d) noise (seeded). Both libraries cluster
them into ``--k`` clusters with k-means++ seeding, ``--n-init`` restarts, at most
300 Lloyd iterations and ``tol=1e-4`` (scikit-learn's defaults, ``algorithm="lloyd"``).
Each library runs in its own process (the script calls itself with ``--worker``),
so threads and peak memory are its own; each repeat uses seed ``r`` (jaxmusic's
``jax.random.key(r)``, scikit-learn's ``random_state=r``), the same seeds for both.

Reported per library: the first call (jaxmusic: tracing and XLA compilation plus
one run; the compile time is that minus the best run), seconds per fit (best and
median of ``--repeats``), peak resident memory, the inertia (mean over repeats) and
the purity against the mixture's components; and the ratio of scikit-learn's best
time to jaxmusic's (> 1: jaxmusic faster). Written to ``benchmarks/results/kmeans.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "kmeans.json")


def mixture(n: int, d: int, k: int, seed: int = 0):
    """(points (n, d) float32, component of each point (n,))."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d))
    comp = rng.integers(0, k, n)
    x = (centres[comp] + rng.standard_normal((n, d))).astype(np.float32)
    return x, comp


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(lib: str, a) -> dict:
    import numpy as np

    from jaxmusic.experiments.clustering import cluster_purity

    x, comp = mixture(a.n, a.d, a.k)
    if lib == "jaxmusic":
        import jax

        from jaxmusic.experiments.clustering import kmeans

        xj = jax.device_put(x)

        def fit(seed):
            r = kmeans(jax.random.key(seed), xj, a.k, n_init=a.n_init)
            jax.block_until_ready(r)
            return float(r.inertia), np.asarray(r.labels), int(r.n_iter)
        threads = os.cpu_count()
    else:
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_info

        def fit(seed):
            m = KMeans(a.k, n_init=a.n_init, random_state=seed, algorithm="lloyd").fit(x)
            return float(m.inertia_), m.labels_, int(m.n_iter_)
        threads = max((p["num_threads"] for p in threadpool_info()), default=1)
    t0 = time.perf_counter()
    first = fit(0)
    first_s = time.perf_counter() - t0
    times, inertias, purities = [], [], []
    for r in range(a.repeats):
        t0 = time.perf_counter()
        inertia, labels, _ = fit(r)
        times.append(time.perf_counter() - t0)
        inertias.append(inertia)
        purities.append(cluster_purity(labels, comp))
    best = min(times)
    return dict(first_call_s=first_s, compile_s=max(first_s - best, 0.0) if lib == "jaxmusic" else 0.0,
                best_s=best, median_s=sorted(times)[len(times) // 2], inertia=float(np.mean(inertias)),
                inertias=inertias, purity=float(np.mean(purities)), peak_mb=_peak_mb(), threads=threads,
                first_n_iter=first[2])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--d", type=int, default=100)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--n-init", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker", choices=("jaxmusic", "sklearn"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker, a)))
        return
    args = [f"--n={a.n}", f"--d={a.d}", f"--k={a.k}", f"--n-init={a.n_init}", f"--repeats={a.repeats}"]
    rows = {}
    for lib in ("jaxmusic", "sklearn"):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), f"--worker={lib}", *args],
                             capture_output=True, text=True)
        if out.returncode:
            rows[lib] = {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
        else:
            rows[lib] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{a.n} x {a.d} float32 points (Gaussian mixture of {a.k}), k={a.k}, n_init={a.n_init}, "
          f"k-means++, tol 1e-4; best and median of {a.repeats}, each library in its own process")
    print(f"| {'library':9s} | {'s/fit best':>10s} | {'median':>7s} | {'compile s':>9s} | {'first call s':>12s} "
          f"| {'inertia (mean)':>14s} | {'purity':>6s} | {'peak MB':>7s} |")
    print("|" + "|".join("-" * w for w in (11, 12, 9, 11, 14, 16, 8, 9)) + "|")
    for lib, r in rows.items():
        if "error" in r:
            print(f"| {lib:9s} | error: {r['error']}")
            continue
        print(f"| {lib:9s} | {r['best_s']:10.2f} | {r['median_s']:7.2f} | {r['compile_s']:9.2f} | "
              f"{r['first_call_s']:12.2f} | {r['inertia']:14.6g} | {r['purity']:6.3f} | {r['peak_mb']:7.0f} |")
    jm, sk = rows.get("jaxmusic", {}), rows.get("sklearn", {})
    if "best_s" in jm and "best_s" in sk:
        ratio = sk["best_s"] / jm["best_s"]
        print(f"speed-up (scikit-learn best / jaxmusic best): {ratio:.2f}x; "
              f"inertia ratio (jaxmusic / scikit-learn): {jm['inertia'] / sk['inertia']:.4f}")
        rows["speedup"] = ratio
    rows["config"] = vars(a) | {"worker": None}
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(rows, f, indent=1)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
