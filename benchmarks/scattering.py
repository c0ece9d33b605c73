"""Time scattering: jaxmusic vs kymatio's JAX frontend, both under jax.jit, same run.

    python benchmarks/scattering.py [--batch 32] [--log2n 16] [--repeats 3]
    python benchmarks/scattering.py --compile [--batches 1 8 32 128] [--spiral]

kymatio comes from $KYMATIO_PATH (e.g. a checkout of its main branch) or an
installed kymatio; without it only jaxmusic is timed. Each case runs in its own
process: time per batch (best of --repeats), compile time (first call), and peak
resident memory of that process.

``--compile`` times the compilation apart (``jit(...).lower(x).compile()``) at each
of ``--batches``, with the first call (compilation plus one run), one further call
(which must not compile again) and the peak memory; kymatio runs up to
``--kymatio-max-batch``; ``--spiral`` adds jaxmusic's SpiralScattering (no kymatio
counterpart) up to ``--spiral-max-batch``.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _harness import SCIPY_SHIM, kymatio_path, load_average, measure, measure_compile, report  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--log2n", type=int, default=16)
    p.add_argument("--J", type=int, default=8)
    p.add_argument("--Q", type=int, nargs=2, default=(12, 1))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compile", action="store_true", help="compile times at each of --batches")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--kymatio-max-batch", type=int, default=128)
    p.add_argument("--spiral", action="store_true")
    p.add_argument("--spiral-max-batch", type=int, default=8)
    a = p.parse_args(argv)
    n, Q = 2**a.log2n, tuple(a.Q)
    if a.compile:
        return compile_times(a, n, Q)
    print(f"Scattering1D J={a.J} Q={Q} batch {a.batch} x 2**{a.log2n} samples, float32, jax.jit")
    rows = {}
    kp = kymatio_path()
    if kp is not None:
        rows["kymatio-jax"] = measure(
            f"from kymatio.jax import Scattering1D\nS = Scattering1D(J={a.J}, shape={n}, Q={Q})",
            "S(x)", batch=a.batch, n=n, repeats=a.repeats, prelude=SCIPY_SHIM, pythonpath=kp or None)
    else:
        print("kymatio not found (set KYMATIO_PATH): timing jaxmusic alone")
    rows["jaxmusic"] = measure(
        f"from jaxmusic import Scattering1D\nS = Scattering1D(J={a.J}, shape={n}, Q={Q})",
        "S(x)", batch=a.batch, n=n, repeats=a.repeats)
    report(rows, reference="kymatio-jax")


def compile_times(a, n, Q):
    kp = kymatio_path()
    cases = []
    if kp is not None:
        cases.append(("kymatio-jax", f"from kymatio.jax import Scattering1D\nS = Scattering1D(J={a.J}, shape={n}, Q={Q})",
                      dict(prelude=SCIPY_SHIM, pythonpath=kp or None), a.kymatio_max_batch))
    cases.append(("jaxmusic", f"from jaxmusic import Scattering1D\nS = Scattering1D(J={a.J}, shape={n}, Q={Q})",
                  {}, max(a.batches)))
    if a.spiral:
        cases.append(("jaxmusic spiral", f"from jaxmusic import SpiralScattering\nS = SpiralScattering(J={a.J}, shape={n}, Q={Q[0]})",
                      {}, a.spiral_max_batch))
    print(f"Scattering1D J={a.J} Q={Q}, 2**{a.log2n} samples, float32, jax.jit: compile times ({load_average()})")
    print(f"{'':18s} {'batch':>5s} {'compile s':>10s} {'1st call s':>10s} {'s/batch':>8s} {'peak GB':>8s}  recompiled")
    for B in a.batches:
        for name, setup, kw, max_batch in cases:
            if B > max_batch:
                continue
            r = measure_compile(setup, "S(x)", batch=B, n=n, repeats=1, **kw)
            if "error" in r:
                print(f"{name:18s} {B:5d} error: {r['error']}")
                continue
            print(f"{name:18s} {B:5d} {r['compile_s']:10.2f} {r['first_call_s']:10.2f} {r['best_s']:8.3f} "
                  f"{r['peak_gb']:8.2f}  {r['recompiled']}", flush=True)
    print(f"({load_average()} at the end)")


if __name__ == "__main__":
    main()
