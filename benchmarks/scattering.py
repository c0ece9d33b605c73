"""Time scattering: jaxmusic vs kymatio's JAX frontend, both under jax.jit, same run.

    python benchmarks/scattering.py [--batch 32] [--log2n 16] [--repeats 3]

kymatio comes from $KYMATIO_PATH (e.g. a checkout of its main branch) or an
installed kymatio; without it only jaxmusic is timed. Each case runs in its own
process: time per batch (best of --repeats), compile time (first call), and peak
resident memory of that process.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _harness import SCIPY_SHIM, kymatio_path, measure, report  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--log2n", type=int, default=16)
    p.add_argument("--J", type=int, default=8)
    p.add_argument("--Q", type=int, nargs=2, default=(12, 1))
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    n, Q = 2**a.log2n, tuple(a.Q)
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


if __name__ == "__main__":
    main()
