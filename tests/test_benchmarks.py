"""The benchmark scripts that must run on a machine the project rarely has: checked here on the CPU."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)

from _floor import work  # noqa: E402


def test_gpu_script_runs_end_to_end_on_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    env = {k: v for k, v in os.environ.items() if k != "KYMATIO_PATH"}
    r = subprocess.run([sys.executable, os.path.join(BENCH, "gpu.py"), "--cpu", "--repeats", "1", "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(out.read_text())
    names = [row["name"] for row in got["rows"]]
    assert names == ["scattering1d", "jtfs", "spiral", "cqt", "mel", "mfcc", "convnet-train", "translator-train",
                     "kymatio-torch"]
    torch_here = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("kymatio") is not None
    for row in got["rows"]:
        if row["name"] == "kymatio-torch" and not torch_here:
            assert "does not import" in row["skipped"]
            continue
        assert "error" not in row and "skipped" not in row, row
        assert 0 < row["s_per_batch"] < 60 and math.isfinite(row["per_second"]), row
        assert row["peak_gb"] > 0 and row["first_call_s"] >= row["s_per_batch"] * 0.5, row
        assert row["device"].startswith("cpu"), row
    assert got["cpu_sizes"] is True
    # the table names every case
    for name in names:
        assert f"| {name} |" in r.stdout


def test_floor_counts_the_programs_ffts_and_gemms():
    def f(x):
        y = jnp.fft.rfft(x, axis=-1)  # 3 real FFTs of 1024
        z = jax.lax.map(lambda r: jnp.fft.ifft(r), y)  # 3 steps of one complex FFT of 513
        return jnp.abs(z) @ jnp.ones((513, 7))  # (3, 513) x (513, 7)

    w = work(f, jnp.zeros((3, 1024), jnp.float32))
    assert dict(w["fft"]) == {("r2c", 1024, 3, "float32"): 1, ("c2c", 513, 1, "complex64"): 3}
    assert w["fft_flops"] == 2.5 * 1024 * 10 * 3 + 3 * 5 * 513 * np.log2(513)
    assert w["gemm"] == 2 * 3 * 513 * 7
