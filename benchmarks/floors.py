"""Every transform against its counted floor, on this machine, in one run.

    python benchmarks/floors.py [--only scattering1d cqt ...] [--repeats 3] [--json OUT]

For each transform the work its jitted program does is read from its jaxpr (FFTs by
type, length and count; GEMM and convolution multiply-adds; the bytes every kernel
must read and write) and turned into seconds at this machine's rates, measured in the
same process: each FFT at the shape the program uses, a float32 GEMM, a streaming
copy (see ``_floor.py``). The table gives the measured time (best of ``--repeats``),
the floor (its FFTs and GEMMs at those rates), their ratio, the floor's split between
FFT and GEMM, and an estimate with the traffic (every kernel's input and output out
to memory and back at the streaming rate: not a bound, as a good schedule keeps some
in cache).

A ratio near 1 says the algorithm runs as fast as the machine allows: going faster
means doing less work (another algorithm), not doing it better. A large ratio says
time goes to what the floor leaves out: copies, gathers, elementwise passes, dispatch.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from _floor import _FFT_CACHE, floor, machine_rates, work  # noqa: E402
from _harness import best_of, check_result_file, load_average, write_result_file  # noqa: E402


def cases():
    """(name, description, builder, batch, length): the sizes of the README's speed tables."""
    from jaxmusic import Scattering1D, SpiralScattering, TimeFrequencyScattering, features

    sr = 22050
    return [
        ("scattering1d", "Scattering1D J=8 Q=(12,1), 2**16", lambda: Scattering1D(J=8, shape=2**16, Q=(12, 1)), 32, 2**16),
        ("scattering1d-b1", "Scattering1D J=8 Q=(12,1), 2**16", lambda: Scattering1D(J=8, shape=2**16, Q=(12, 1)), 1, 2**16),
        ("jtfs", "TimeFrequencyScattering J=8 J_fr=3 Q=(12,1), 2**16",
         lambda: TimeFrequencyScattering(J=8, J_fr=3, shape=2**16, Q=(12, 1)), 4, 2**16),
        ("spiral", "SpiralScattering J=10 Q=12, 2**15", lambda: SpiralScattering(J=10, shape=2**15, Q=12), 4, 2**15),
        ("cqt", "CQT 84 bins, 4 s at 22050 Hz", lambda: features.CQT(sr=sr), 32, 4 * sr),
        ("mel", "MelSpectrogram, 4 s at 22050 Hz", lambda: features.MelSpectrogram(sr=sr), 32, 4 * sr),
        ("mfcc", "MFCC 20, 4 s at 22050 Hz", lambda: features.MFCC(sr=sr, n_mfcc=20), 32, 4 * sr),
    ]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", help="names of the cases to run (default: all)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per case and round")
    p.add_argument("--rounds", type=int, default=2,
                   help="rounds over all cases, the machine's rates measured again in each; every figure "
                        "is the best over the rounds (a shared machine's speed drifts by tens of percent)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--force", action="store_true", help="replace a --json file this script did not write")
    a = p.parse_args(argv)
    if a.json:
        check_result_file(a.json, "floors", force=a.force)
    print(f"{load_average()}; jax {jax.__version__} on {jax.devices()[0].platform}; {a.rounds} rounds")
    built = []
    for name, desc, build, batch, n in cases():
        if a.only and name not in a.only:
            continue
        S = build()
        x = jnp.asarray(np.random.default_rng(0).standard_normal((batch, n)).astype(np.float32))
        f = jax.jit(lambda x, S=S: S(x))
        built.append((name, desc, batch, f, x, work(f, x)))
    best = {name: dict(time=float("inf"), first=float("inf"), floor=None) for name, *_ in built}
    all_rates = []
    for r in range(a.rounds):
        _FFT_CACHE.clear()  # the FFTs are timed again in every round
        rates = machine_rates(reps=10)
        all_rates.append(rates)
        print(f"round {r + 1}: GEMM {rates['gemm'] / 1e9:.1f} GFLOP/s, streaming copy {rates['stream'] / 1e9:.1f} GB/s",
              flush=True)
        for name, desc, batch, f, x, w in built:
            first, t, _ = best_of(lambda: f(x), a.repeats)
            fl = floor(w, rates)
            b = best[name]
            b["time"], b["first"] = min(b["time"], t), min(b["first"], first)
            if b["floor"] is None or fl["floor_s"] < b["floor"]["floor_s"]:
                b["floor"] = fl
    print(f"{'transform':52s} {'batch':>5s} {'s/signal':>9s} {'floor s':>9s} {'x floor':>7s} "
          f"{'FFT GFLOP':>9s} {'GEMM GFLOP':>10s} {'GB':>6s} {'FFT share':>9s} {'+traffic s':>10s} {'x':>5s}")
    rows = []
    for name, desc, batch, f, x, w in built:
        t, fl = best[name]["time"], best[name]["floor"]
        row = dict(name=name, transform=desc, batch=batch, seconds_per_batch=t, first_call_s=best[name]["first"],
                   seconds_per_signal=t / batch, floor_per_signal=fl["floor_s"] / batch,
                   x_floor=t / fl["floor_s"], fft_gflop=w["fft_flops"] / 1e9, gemm_gflop=w["gemm"] / 1e9,
                   gbytes=w["bytes"] / 1e9, fft_s=fl["fft_s"], gemm_s=fl["gemm_s"], memory_s=fl["memory_s"],
                   with_traffic_per_signal=fl["with_traffic_s"] / batch, x_with_traffic=t / fl["with_traffic_s"],
                   ffts={f"{k[0]} n={k[1]} x{k[2]}": c for k, c in sorted(w["fft"].items())})
        rows.append(row)
        print(f"{desc:52s} {batch:5d} {t / batch:9.4f} {fl['floor_s'] / batch:9.4f} {row['x_floor']:7.2f} "
              f"{row['fft_gflop'] / batch:9.3f} {row['gemm_gflop'] / batch:10.3f} {row['gbytes'] / batch:6.3f} "
              f"{100 * fl['fft_s'] / fl['floor_s']:8.0f}% {fl['with_traffic_s'] / batch:10.4f} "
              f"{row['x_with_traffic']:5.2f}", flush=True)
    print(f"(per signal, best of {a.rounds} rounds x {a.repeats} calls; {load_average()} at the end)")
    if a.json:
        write_result_file(a.json, "floors", dict(load=load_average(), rates=all_rates, rows=rows))


if __name__ == "__main__":
    main()
