"""Joint time-frequency scattering: jaxmusic vs kymatio's JAX frontend, side by side.

Each library runs in its own subprocess (so peak memory is its own) on the same
random batch, under ``jax.jit``: compile time (first call minus a steady call),
time per signal (median of ``--reps`` steady calls), peak resident memory
(``ru_maxrss`` of the subprocess, JAX runtime included) and, when both ran, the
speed ratio and the relative L2 difference of their outputs.

kymatio is imported from ``$KYMATIO_PATH`` if set, else from an installed
``kymatio``; without it only jaxmusic runs.

    python benchmarks/jtfs.py                       # J=8, J_fr=3, Q=(12,1), N=2**16, batch 4
    python benchmarks/jtfs.py --batch 32 --libs jaxmusic
    KYMATIO_PATH=/path/to/kymatio python benchmarks/jtfs.py --batch 2 --reps 2
    python benchmarks/jtfs.py --compile --batches 1 8 32 128 --kymatio-max-batch 4

``--compile`` times the compilation apart (``jit(...).lower(x).compile()``, the
transform closed over, as in benchmarks/scattering.py) at each of ``--batches``,
with the first call (compilation plus one run), one further call (which must not
compile again) and the peak memory; kymatio (about 1.8 GB per signal) runs up to
``--kymatio-max-batch``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _kymatio_class():
    path = os.environ.get("KYMATIO_PATH")
    if path:
        sys.path.insert(0, path)
    try:  # the frontend module alone: kymatio.jax also imports its 2-d and 3-d code
        from kymatio.scattering1d.frontend.jax_frontend import TimeFrequencyScatteringJax
    except Exception as e:  # noqa: BLE001 - report any import failure and skip
        return None, f"{type(e).__name__}: {e}"
    return TimeFrequencyScatteringJax, None


def worker(args) -> dict:
    import resource

    import jax
    import jax.numpy as jnp
    import numpy as np

    cfg = dict(J=args.J, J_fr=args.J_fr, shape=args.N, Q=tuple(args.Q))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((args.batch, args.N)), jnp.float32)
    t0 = time.perf_counter()
    if args.worker == "jaxmusic":
        sys.path.insert(0, ROOT)
        from jaxmusic.scattering.jtfs import TimeFrequencyScattering

        S = TimeFrequencyScattering(**cfg)
        f = jax.jit(lambda S, x: S(x))
        call = lambda: f(S, x)  # noqa: E731
    else:
        cls, err = _kymatio_class()
        if cls is None:
            return {"skipped": err}
        S = cls(**cfg)
        f = jax.jit(S.scattering)
        call = lambda: f(x)  # noqa: E731
    build = time.perf_counter() - t0

    t0 = time.perf_counter()
    y = jax.block_until_ready(call())
    first = time.perf_counter() - t0
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - t0)
    steady = float(np.median(times))
    if args.out:
        np.save(args.out, np.asarray(y))
    return {
        "build_s": build,
        "compile_s": max(first - steady, 0.0),
        "batch_s": steady,
        "per_signal_s": steady / args.batch,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "shape": list(y.shape),
        "device": str(jax.devices()[0]),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--J", type=int, default=8)
    p.add_argument("--J_fr", type=int, default=3)
    p.add_argument("--Q", type=int, nargs="+", default=[12, 1])
    p.add_argument("--N", type=int, default=2**16)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--libs", default="jaxmusic,kymatio")
    p.add_argument("--worker", choices=["jaxmusic", "kymatio"], help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--compile", action="store_true", help="compile times at each of --batches")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--kymatio-max-batch", type=int, default=4)
    args = p.parse_args(argv)
    if args.compile:
        return compile_times(args)

    if args.worker:
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return

    results, outputs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for lib in args.libs.split(","):
            out = os.path.join(tmp, f"{lib}.npy")
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--out", out]
            for k in ("J", "J_fr", "N", "batch", "reps"):
                cmd += [f"--{k}", str(getattr(args, k))]
            cmd += ["--Q"] + [str(q) for q in args.Q]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not line:
                results[lib] = {"failed": (proc.stderr or proc.stdout)[-2000:]}
                continue
            results[lib] = json.loads(line[-1][7:])
            if os.path.exists(out):
                import numpy as np

                outputs[lib] = np.load(out)

    print(f"JTFS J={args.J} J_fr={args.J_fr} Q={tuple(args.Q)} N={args.N}, batch {args.batch}, jax.jit")
    print(f"{'library':10s} {'per signal':>11s} {'batch':>9s} {'compile':>9s} {'peak RSS':>9s}")
    for lib, r in results.items():
        if "per_signal_s" in r:
            print(
                f"{lib:10s} {r['per_signal_s']:10.3f}s {r['batch_s']:8.2f}s "
                f"{r['compile_s']:8.1f}s {r['peak_rss_gb']:7.2f}GB  ({r['device']})"
            )
        else:
            print(f"{lib:10s} {'skipped' if 'skipped' in r else 'failed'}: {r.get('skipped') or r.get('failed')}")
    jm, ky = results.get("jaxmusic", {}), results.get("kymatio", {})
    if "per_signal_s" in jm and "per_signal_s" in ky:
        print(f"speed-up (kymatio time / jaxmusic time): {ky['per_signal_s'] / jm['per_signal_s']:.1f}x")
        print(f"peak memory ratio (kymatio / jaxmusic): {ky['peak_rss_gb'] / jm['peak_rss_gb']:.1f}x")
        if "jaxmusic" in outputs and "kymatio" in outputs and outputs["jaxmusic"].shape == outputs["kymatio"].shape:
            import numpy as np

            a, b = outputs["jaxmusic"], outputs["kymatio"]
            print(f"relative L2 difference of the outputs: {np.linalg.norm(a - b) / np.linalg.norm(b):.2e}")


def compile_times(args) -> None:
    from _harness import SCIPY_SHIM, load_average, measure_compile

    cfg = f"J={args.J}, J_fr={args.J_fr}, shape={args.N}, Q={tuple(args.Q)}"
    cases = [("jaxmusic", f"import sys; sys.path.insert(0, {ROOT!r})\n"
              f"from jaxmusic.scattering.jtfs import TimeFrequencyScattering\nS = TimeFrequencyScattering({cfg})",
              "S(x)", {}, max(args.batches))]
    if "kymatio" in args.libs:
        path = os.environ.get("KYMATIO_PATH")
        cases.insert(0, ("kymatio-jax", "from kymatio.scattering1d.frontend.jax_frontend import "
                         f"TimeFrequencyScatteringJax\nS = TimeFrequencyScatteringJax({cfg})",
                         "S.scattering(x)", dict(prelude=SCIPY_SHIM, pythonpath=path), args.kymatio_max_batch))
    print(f"JTFS {cfg}, float32, jax.jit: compile times ({load_average()})")
    print(f"{'':12s} {'batch':>5s} {'compile s':>10s} {'1st call s':>10s} {'s/signal':>9s} {'peak GB':>8s}  recompiled")
    for B in args.batches:
        for name, setup, call, kw, max_batch in cases:
            if B > max_batch:
                continue
            r = measure_compile(setup, call, batch=B, n=args.N, repeats=1, **kw)
            if "error" in r:
                print(f"{name:12s} {B:5d} error: {r['error']}")
                continue
            print(f"{name:12s} {B:5d} {r['compile_s']:10.2f} {r['first_call_s']:10.2f} {r['best_s'] / B:9.3f} "
                  f"{r['peak_gb']:8.2f}  {r['recompiled']}", flush=True)
    print(f"({load_average()} at the end)")


if __name__ == "__main__":
    main()
