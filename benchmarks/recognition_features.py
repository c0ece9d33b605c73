"""Feature extraction for the recognition table: jaxmusic vs the reference libraries.

    python benchmarks/recognition_features.py                      # all four representations
    python benchmarks/recognition_features.py --reps mfcc,scattering --repeats 3
    KYMATIO_PATH=/path/to/kymatio python benchmarks/recognition_features.py

Throughput (notes per second) of the per-note feature vectors of the instrument
recognition table (`jaxmusic.experiments.representations.make_representation`) on
one batch of ``--batch`` one-second 16 kHz notes: the first rows of
``jaxmusic.data.gm8(pitch_step=6, velocities=(90,))`` (random noise when rendering
is unavailable). Each library runs in its own subprocess on the same notes; every
case is called once to warm up (for JAX: compile; ``compile s`` is that first call
minus the best steady call), then timed ``--repeats`` times, best kept.

==============  ===========================================  ==========================
representation  jaxmusic                                     reference
==============  ===========================================  ==========================
mfcc            ``make_representation("mfcc")``, jit, batch  ``librosa.feature.mfcc``
                (MFCC n_mfcc=20, n_fft=1024, hop 256,        with the same options, then
                n_mels=128; mean and std over frames)        NumPy mean/std: a loop over
                                                             the notes, and the (B, n)
                                                             batch in one call; the
                                                             faster is reported
scattering      ``make_representation("scattering")``        ``kymatio.jax.Scattering1D``
                (J=8, Q=(12, 1))                             (J=8, Q=(12, 1)), order 0
                                                             dropped, ``log1p(Sx/1e-6)``
                                                             averaged over time, jit
jtfs            ``make_representation("jtfs")``              ``kymatio.jax.Time-
                (J=8, J_fr=3, Q=(12, 1), format="time")      FrequencyScattering`` (same
                                                             options), same post-
                                                             processing, jit; in chunks
                                                             of ``--kymatio-jtfs-batch``
                                                             notes (halved down to 1
                                                             if a chunk fails or
                                                             exceeds ``--max-rss-gb``)
spiral          ``make_representation("spiral")`` (Q=(8,1))  none exists
==============  ===========================================  ==========================

Agreement: each pair's feature vectors are compared note by note (relative L2
difference ``|a - b| / |b|``, the reference as ``b``); the table shows the largest
over the notes, the JSON also the relative difference of the whole batch. For MFCC
the reference is the per-note loop; librosa's batch call takes ``power_to_db``'s
``top_db`` floor from the loudest note of the whole batch (jaxmusic and the loop:
each note's own), so it can differ from the loop on quiet notes (its difference is
in the JSON too).

kymatio comes from ``$KYMATIO_PATH`` (e.g. a checkout of its main branch) or an
installed kymatio; without it the scattering rows are timed for jaxmusic alone.
Results: printed as a markdown table and written to
``benchmarks/results/recognition_features.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from _harness import SCIPY_SHIM, kymatio_path  # noqa: E402

REPRESENTATIONS = ("mfcc", "scattering", "jtfs", "spiral")
SR = 16000
N_SAMPLES = 16000
EPS = 1e-6  # jaxmusic.experiments.representations.EPS (checked in the jaxmusic worker)
# The reference configurations; the jaxmusic worker reports its own so that the
# parent can check that both sides computed the same transform.
MFCC_OPTIONS = dict(n_mfcc=20, n_fft=1024, hop_length=256, n_mels=128)
KYMATIO_CONFIG = {
    "scattering": dict(J=8, Q=(12, 1)),
    "jtfs": dict(J=8, J_fr=3, Q=(12, 1)),
}
REFERENCE = {"mfcc": "librosa", "scattering": "kymatio", "jtfs": "kymatio", "spiral": None}


# --------------------------------------------------------------------------- notes


def load_notes(batch: int):
    """The first ``batch`` notes of gm8 (pitch_step=6, velocity 90), or noise."""
    import numpy as np

    try:
        sys.path.insert(0, ROOT)
        from jaxmusic.data import gm8

        d = gm8(pitch_step=6, velocities=(90,))
        if int(d.sr) != SR or d.audio.shape[1] != N_SAMPLES or d.audio.shape[0] < batch:
            raise ValueError(f"gm8 gave {d.audio.shape} at {d.sr} Hz")
        x = np.asarray(d.audio[:batch], dtype=np.float32)
        names = [d.classes[int(c)] for c in np.asarray(d.label[:batch])]
        return x, f"gm8(pitch_step=6, velocities=(90,))[:{batch}] ({', '.join(sorted(set(names)))})"
    except Exception as e:  # noqa: BLE001 - fall back to noise and say why
        x = 0.1 * np.random.default_rng(0).standard_normal((batch, N_SAMPLES)).astype(np.float32)
        return x, f"random noise (std 0.1): gm8 unavailable ({type(e).__name__}: {e})"


# --------------------------------------------------------------------------- workers


def _best_of(call, repeats: int):
    """First call (warm-up / compile) and the best of ``repeats`` timed calls."""
    import jax

    t0 = time.perf_counter()
    out = jax.block_until_ready(call())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - t0)
    return out, first, times


def _jaxmusic_worker(rep: str, x, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, ROOT)
    from jaxmusic.experiments import representations as reps

    R = reps.make_representation(rep, sr=SR, n_samples=x.shape[-1])
    t = R.transform
    if rep == "mfcc":
        config = {k: getattr(t, k) for k in MFCC_OPTIONS}
    else:
        config = {k: getattr(t, k) for k in ("J", "Q", "J_fr") if hasattr(t, k)}
        config["Q"] = tuple(config["Q"]) if isinstance(config["Q"], (tuple, list)) else (config["Q"],)
        config["eps"] = R.eps
        config["T"] = getattr(t, "T", None)
    xj = jnp.asarray(x)
    f = jax.jit(lambda R, x: R(x))  # R's filters are arguments, not constants folded in
    out, first, times = _best_of(lambda: f(R, xj), repeats)
    return dict(out=out, first=first, times=times, batch=x.shape[0],
                config={k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()},
                device=str(jax.devices()[0]))


def _librosa_worker(x, repeats: int) -> dict:
    import librosa
    import numpy as np

    def mean_std(M):
        return np.concatenate([M.mean(axis=-1), M.std(axis=-1)], axis=-1)

    def loop():
        return np.stack([mean_std(librosa.feature.mfcc(y=xi, sr=SR, **MFCC_OPTIONS)) for xi in x])

    def batch():
        return mean_std(librosa.feature.mfcc(y=x, sr=SR, **MFCC_OPTIONS))

    out_loop, first_loop, times_loop = _best_of(loop, repeats)
    out_batch, first_batch, times_batch = _best_of(batch, repeats)
    mode = "loop" if min(times_loop) <= min(times_batch) else "batch"
    return dict(out=out_loop, out_batch=out_batch, first=first_loop if mode == "loop" else first_batch,
                times=times_loop if mode == "loop" else times_batch, batch=x.shape[0], mode=mode,
                modes={"loop": dict(best_s=min(times_loop), times_s=times_loop, first_s=first_loop),
                       "batch": dict(best_s=min(times_batch), times_s=times_batch, first_s=first_batch)},
                config=dict(MFCC_OPTIONS), version=librosa.__version__, compiled=False)


def _kymatio_worker(rep: str, x, repeats: int, chunk: int) -> dict:
    path = os.environ.get("KYMATIO_PATH")
    if path:
        sys.path.insert(0, path)
    exec(SCIPY_SHIM, {})  # kymatio.jax imports scipy.special.sph_harm (gone in SciPy 1.17)
    import jax
    import jax.numpy as jnp
    import kymatio
    import numpy as np
    from kymatio.jax import Scattering1D, TimeFrequencyScattering

    cfg = KYMATIO_CONFIG[rep]
    n = x.shape[-1]
    if rep == "scattering":
        S = Scattering1D(J=cfg["J"], shape=n, Q=cfg["Q"])
    else:
        S = TimeFrequencyScattering(J=cfg["J"], J_fr=cfg["J_fr"], Q=cfg["Q"], shape=n, format="time")

    # order 0 is row 0 of kymatio's array output (as of jaxmusic's layouts), dropped
    f = jax.jit(lambda x: jnp.mean(jnp.log1p(jnp.abs(S.scattering(x)[:, 1:, :]) / EPS), axis=-1))
    chunk = max(1, min(chunk, x.shape[0]))
    # whole chunks only (one compiled shape); the remainder, if any, is left out of the timing
    n_used = (x.shape[0] // chunk) * chunk
    pieces = [jnp.asarray(x[i:i + chunk]) for i in range(0, n_used, chunk)]

    def call():
        return jnp.concatenate([f(p) for p in pieces], axis=0)

    out, first, times = _best_of(call, repeats)
    return dict(out=out, first=first, times=times, batch=n_used, chunk=chunk,
                config={k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()} | {"eps": EPS},
                version=getattr(kymatio, "__version__", "?"), kymatio_file=kymatio.__file__,
                device=str(jax.devices()[0]))


def worker(args) -> None:
    import resource

    import numpy as np

    x = np.load(args.notes)
    if args.worker == "jaxmusic":
        r = _jaxmusic_worker(args.rep, x, args.repeats)
    elif args.worker == "librosa":
        r = _librosa_worker(x, args.repeats)
    else:
        r = _kymatio_worker(args.rep, x, args.repeats, args.chunk)
    np.save(args.out, np.asarray(r.pop("out"), dtype=np.float32))
    if "out_batch" in r:
        np.save(args.out.replace(".npy", "_batch.npy"), np.asarray(r.pop("out_batch"), dtype=np.float32))
    best = min(r["times"])
    r.update(best_s=best, notes_per_s=r["batch"] / best, first_call_s=r.pop("first"),
             times_s=r.pop("times"), peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    if r.pop("compiled", True):
        r["compile_s"] = max(r["first_call_s"] - best, 0.0)
    print("RESULT " + json.dumps(r), flush=True)


# --------------------------------------------------------------------------- parent


def _rss_gb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def run_worker(lib: str, rep: str, notes: str, out: str, args, chunk: int | None = None) -> dict:
    """One case in a fresh interpreter, killed past --max-rss-gb or --timeout."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--rep", rep, "--notes", notes,
           "--out", out, "--repeats", str(args.repeats)]
    if chunk is not None:
        cmd += ["--chunk", str(chunk)]
    env = dict(os.environ)
    kp = kymatio_path()
    if lib == "kymatio" and kp:
        env["KYMATIO_PATH"] = kp
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, text=True, env=env)
        killed, peak = None, 0.0
        while proc.poll() is None:
            rss = _rss_gb(proc.pid)
            peak = max(peak, rss)
            if rss > args.max_rss_gb:
                killed = f"killed: resident memory {rss:.1f} GB > --max-rss-gb {args.max_rss_gb:g}"
            elif time.perf_counter() - t0 > args.timeout:
                killed = f"killed: over --timeout {args.timeout:g} s"
            if killed:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.2)
        so.seek(0)
        se.seek(0)
        stdout, stderr = so.read(), se.read()
    wall = time.perf_counter() - t0
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    if killed or proc.returncode or not lines:
        tail = (stderr or stdout).strip().splitlines()
        return {"error": killed or (tail[-1] if tail else f"exit status {proc.returncode}"),
                "returncode": proc.returncode, "wall_s": wall, "load_avg_1min": load,
                "stderr_tail": (stderr or stdout)[-3000:]}
    r = json.loads(lines[-1][7:])
    r.update(wall_s=wall, load_avg_1min=load)
    return r


def rel_diff(a, b) -> dict:
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return {"error": f"shapes differ: {a.shape} vs {b.shape}"}
    per_note = np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)
    worst = int(np.argmax(per_note))
    return {"max": float(per_note.max()), "median": float(np.median(per_note)),
            "batch": float(np.linalg.norm(a - b) / np.linalg.norm(b)), "worst_note": worst,
            "max_abs": float(np.abs(a - b).max()),
            "worst_coefficient": int(np.unravel_index(np.argmax(np.abs(a - b)), a.shape)[1])}


def _fmt(v, spec):
    return "—" if v is None else format(v, spec)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", default=",".join(REPRESENTATIONS), help="comma-separated subset")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--libs", default="jaxmusic,reference", help="jaxmusic, reference or both")
    p.add_argument("--kymatio-jtfs-batch", type=int, default=32,
                   help="notes per call of kymatio's JTFS (halved on failure)")
    p.add_argument("--max-rss-gb", type=float, default=14.0, help="kill a worker past this resident memory")
    p.add_argument("--timeout", type=float, default=900.0, help="kill a worker after this many seconds")
    p.add_argument("--json", default=os.path.join(HERE, "results", "recognition_features.json"))
    p.add_argument("--worker", choices=["jaxmusic", "librosa", "kymatio"], help=argparse.SUPPRESS)
    p.add_argument("--rep", help=argparse.SUPPRESS)
    p.add_argument("--notes", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--chunk", type=int, default=32, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return

    import numpy as np

    reps = [r for r in args.reps.split(",") if r]
    bad = sorted(set(reps) - set(REPRESENTATIONS))
    if bad:
        p.error(f"unknown representation(s) {bad}; known: {', '.join(REPRESENTATIONS)}")
    libs = set(args.libs.split(","))
    kp = kymatio_path()
    x, source = load_notes(args.batch)
    print(f"notes: {source}; batch {x.shape[0]} x {x.shape[1]} samples at {SR} Hz, float32")
    print(f"best of {args.repeats} after a warm-up call; each case in its own process; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    if kp is None:
        print("kymatio not found (set KYMATIO_PATH): scattering rows timed for jaxmusic alone")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        notes = os.path.join(tmp, "notes.npy")
        np.save(notes, x)
        for rep in reps:
            row = results[rep] = {"reference_library": REFERENCE[rep]}
            feats = {}
            if "jaxmusic" in libs:
                out = os.path.join(tmp, f"{rep}_jaxmusic.npy")
                row["jaxmusic"] = run_worker("jaxmusic", rep, notes, out, args)
                if "error" not in row["jaxmusic"]:
                    feats["jaxmusic"] = np.load(out)
            ref = REFERENCE[rep]
            if ref is None:
                row["reference"] = {"skipped": "no reference implementation of spiral scattering exists"}
            elif "reference" not in libs:
                row["reference"] = {"skipped": "not requested (--libs)"}
            elif ref == "kymatio" and kp is None:
                row["reference"] = {"skipped": "kymatio not found (set KYMATIO_PATH)"}
            else:
                out = os.path.join(tmp, f"{rep}_{ref}.npy")
                if ref == "librosa":
                    r = run_worker("librosa", rep, notes, out, args)
                elif rep == "jtfs":
                    chunk, attempts = min(args.kymatio_jtfs_batch, args.batch), []
                    while True:
                        r = run_worker("kymatio", rep, notes, out, args, chunk=chunk)
                        if "error" not in r or chunk == 1:
                            break
                        attempts.append({"chunk": chunk, "error": r["error"]})
                        print(f"  kymatio jtfs at {chunk} notes per call failed ({r['error']}); halving")
                        chunk //= 2
                    if attempts:
                        r["failed_chunks"] = attempts
                else:
                    r = run_worker("kymatio", rep, notes, out, args, chunk=args.batch)
                row["reference"] = r
                if "error" not in r:
                    feats["reference"] = np.load(out)
                    if os.path.exists(out.replace(".npy", "_batch.npy")):
                        feats["reference_batch"] = np.load(out.replace(".npy", "_batch.npy"))
            jm, rf = row.get("jaxmusic", {}), row.get("reference", {})
            if "config" in jm and "config" in rf:
                row["same_config"] = all(jm["config"].get(k) == v for k, v in rf["config"].items())
            if "jaxmusic" in feats:
                row["feature_dim"] = int(feats["jaxmusic"].shape[-1])
            elif "reference" in feats:
                row["feature_dim"] = int(feats["reference"].shape[-1])
            if "jaxmusic" in feats and "reference" in feats:
                m = feats["reference"].shape[0]  # kymatio's JTFS may have left a remainder out
                row["agreement"] = rel_diff(feats["jaxmusic"][:m], feats["reference"])
                if "reference_batch" in feats:
                    row["agreement_librosa_batch_call"] = rel_diff(feats["jaxmusic"], feats["reference_batch"])
                    row["librosa_batch_call_vs_loop"] = rel_diff(feats["reference_batch"], feats["reference"])
            if "notes_per_s" in jm and "notes_per_s" in rf:
                row["ratio"] = jm["notes_per_s"] / rf["notes_per_s"]
            status = []
            for side in ("jaxmusic", "reference"):
                r = row.get(side, {})
                status.append(f"{side} " + (f"{r['notes_per_s']:.1f} notes/s" if "notes_per_s" in r
                                            else r.get("error") or r.get("skipped") or "not run"))
            print(f"  {rep}: " + "; ".join(status), flush=True)

    # ---- table
    lines = ["| representation | jaxmusic notes/s | reference notes/s | ratio | compile s | feature dim "
             "| max relative difference |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    notes_out = []
    for rep, row in results.items():
        jm, rf = row.get("jaxmusic", {}), row.get("reference", {})
        ref_name = row["reference_library"]
        if "notes_per_s" in rf:
            ref_cell = f"{rf['notes_per_s']:.1f} ({ref_name}"
            if ref_name == "librosa":
                ref_cell += f", {rf['mode']}"
            if rf.get("chunk", args.batch) != args.batch:
                ref_cell += f", {rf['chunk']} notes/call"
            ref_cell += ")"
        elif "skipped" in rf:
            ref_cell = "n/a" if ref_name is None else "skipped"
        else:
            ref_cell = "error"
        compile_cell = _fmt(jm.get("compile_s"), ".1f")
        if "compile_s" in rf:
            compile_cell += f" / {rf['compile_s']:.1f}"
        agree = row.get("agreement", {})
        lines.append(
            f"| {rep} | {_fmt(jm.get('notes_per_s'), '.1f') if 'notes_per_s' in jm else 'error'} | {ref_cell} "
            f"| {_fmt(row.get('ratio'), '.2f')}{'x' if 'ratio' in row else ''} | {compile_cell} "
            f"| {row.get('feature_dim', '—')} | {_fmt(agree.get('max'), '.1e') if 'max' in agree else '—'} |")
        for side in ("jaxmusic", "reference"):
            r = row.get(side, {})
            if "error" in r:
                notes_out.append(f"{rep} {side}: {r['error']}")
            if "skipped" in r and ref_name is not None:
                notes_out.append(f"{rep} {side}: {r['skipped']}")
        if ref_name is None:
            notes_out.append(f"{rep}: jaxmusic only, {row['reference']['skipped']}")
        if row.get("same_config") is False:
            notes_out.append(f"{rep}: configurations differ: jaxmusic {jm['config']} vs reference {rf['config']}")
        if rf.get("failed_chunks"):
            notes_out.append(f"{rep}: kymatio failed at " + ", ".join(
                f"{a['chunk']} notes/call ({a['error']})" for a in rf["failed_chunks"]))
        if rf.get("chunk", args.batch) != args.batch:
            notes_out.append(f"{rep}: kymatio ran {rf['chunk']} notes per call ({rf['batch']} notes timed)")
        if "agreement_librosa_batch_call" in row:
            m = rf["modes"]
            loop_rate = args.batch / m["loop"]["best_s"]
            notes_out.append(
                f"mfcc: librosa loop {loop_rate:.1f} notes/s (jaxmusic {jm['notes_per_s'] / loop_rate:.1f}x), "
                f"batch call {args.batch / m['batch']['best_s']:.1f} notes/s; the difference column is against "
                f"the loop; the batch call's vectors differ from the loop's by up to "
                f"{row['librosa_batch_call_vs_loop']['max']:.1e} (power_to_db's top_db floor taken from the "
                f"loudest note of the batch, not each note's own)")
    table = "\n".join(lines)
    print()
    print(table)
    print("\ncompile s: jaxmusic / reference, first call minus the best steady call; "
          "ratio: jaxmusic notes/s over the reference's; max relative difference: largest per-note "
          "|jaxmusic - reference| / |reference| of the feature vectors")
    for line in notes_out:
        print("- " + line)

    meta = dict(notes=source, batch=int(x.shape[0]), n_samples=int(x.shape[1]), sr=SR, repeats=args.repeats,
                cpus=os.cpu_count(), platform=platform.platform(), python=platform.python_version(),
                kymatio_path=kp, load_avg_end=os.getloadavg(),
                date=time.strftime("%Y-%m-%d %H:%M:%S"))
    for mod in ("jax", "numpy", "librosa", "scipy"):
        try:
            meta[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            meta[mod] = None
    meta["kymatio_version"] = next((row["reference"]["version"] for row in results.values()
                                    if "version" in row.get("reference", {}) and row["reference_library"] == "kymatio"),
                                   None)
    if kp:  # only a checkout of its own (a git archive extracted inside this repository has no .git)
        meta["kymatio_commit"] = None
        if os.path.exists(os.path.join(kp, ".git")):
            try:
                meta["kymatio_commit"] = subprocess.run(["git", "-C", kp, "rev-parse", "HEAD"], capture_output=True,
                                                        text=True).stdout.strip() or None
            except OSError:
                pass
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(dict(meta=meta, table=table, notes=notes_out, results=results), fh, indent=1)
    print(f"\nwritten: {os.path.relpath(args.json)}")


if __name__ == "__main__":
    main()
