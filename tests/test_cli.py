"""The `jaxmusic` command and its main job (`make demo`), and the scalogram it relies on."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from jaxmusic import ParameterError, Scattering1D, features
from jaxmusic.cli import main


def test_demo_writes_figure_and_summary(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--pitch", "60"]) == 0
    png = tmp_path / "features.png"
    assert png.stat().st_size > 20_000 and png.read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((tmp_path / "summary.json").read_text())
    scat = summary["scattering"]
    assert scat["paths_per_order"] == {"0": 1, "1": 76, "2": 260}
    assert scat["shape"][0] == 337
    # the stride-weighted scattering energy of a note is below the signal's energy
    assert 0 < sum(scat["energy_per_order"].values()) <= summary["signal_energy"]
    assert "MFCC: 20 coefficients" in capsys.readouterr().out


@pytest.mark.parametrize("args, match", [
    (["--pitch", "200"], "pitch must be <= 127, got 200"),
    (["--pitch", "126"], "pitch=126"),
    (["--instrument", "banjo"], "banjo"),
])
def test_command_reports_jaxmusic_errors(tmp_path, capsys, args, match):
    assert main(["demo", "--out", str(tmp_path)] + args) == 2
    err = capsys.readouterr().err
    assert "jaxmusic: error" in err and match in err
    assert not (tmp_path / "features.png").exists()


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "demo" in out and "features" in out


def test_scalogram_is_first_order_scattering_at_small_T():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 2048)), jnp.float32)
    U = features.scalogram(x, J=6, Q=8, T=16)
    S = Scattering1D(J=6, shape=2048, Q=(8,), T=16, max_order=1)
    assert U.shape == (2, S.output_size() - 1, 2048 // 16)
    np.testing.assert_allclose(U, S(x)[:, 1:], rtol=1e-6)


@pytest.mark.parametrize("y, kwargs, match", [
    (np.zeros(2048, np.float32), dict(J=13), "J=13"),
    (np.zeros(2048, np.float32), dict(Q=0), "Q"),
    (np.zeros(2048, np.int16), {}, "int16"),
    (3.0, {}, "y must be an array"),
])
def test_scalogram_bad_input(y, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        features.scalogram(jnp.asarray(y) if np.ndim(y) else y, **kwargs)


def test_experiment_list_says_how_long_each_takes(capsys):
    from jaxmusic.cli import main
    from jaxmusic.cli.experiment import DURATIONS, EXPERIMENTS

    assert set(DURATIONS) == set(EXPERIMENTS)  # every experiment has its measured times
    assert main(["experiment", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert {line.split()[0] for line in lines} == set(EXPERIMENTS)
    timbre = next(line for line in lines if line.startswith("timbre"))
    assert "52 s" in timbre and "25 min" in timbre
