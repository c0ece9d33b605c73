"""Tests for jaxmusic.audio: load/save/validate/to_float against soundfile and librosa."""

import os
import stat

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest
import soundfile as sf

import jaxmusic
from jaxmusic import audio
from jaxmusic._checks import AudioError, ParameterError

SR = 44100


def tone(n=SR // 2, sr=SR, f=440.0, amp=0.5):
    t = np.arange(n) / sr
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


@pytest.fixture
def stereo():
    left = tone(f=440.0, amp=0.6)
    right = tone(f=660.0, amp=0.3)
    return np.stack([left, right])  # (2, n)


@pytest.fixture
def files(tmp_path, stereo):
    """One file per common case: int16/int32/float32 mono, int16 stereo WAV, 24-bit FLAC."""
    out = {}
    x = tone()
    for subtype in ("PCM_16", "PCM_32", "FLOAT"):
        path = tmp_path / f"mono_{subtype}.wav"
        sf.write(path, x, SR, subtype=subtype)
        out[subtype] = path
    out["stereo"] = tmp_path / "stereo.wav"
    sf.write(out["stereo"], stereo.T, SR, subtype="PCM_16")
    out["flac"] = tmp_path / "stereo.flac"
    sf.write(out["flac"], stereo.T, SR, subtype="PCM_24")
    return out


# ---------------------------------------------------------------------------
# load: numbers


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_32", "FLOAT"])
def test_load_native_rate_matches_soundfile(files, subtype):
    y, sr = audio.load(files[subtype], sr=None)
    ref, ref_sr = sf.read(files[subtype], dtype="float32")
    assert sr == ref_sr == SR
    assert y.dtype == np.float32 and y.shape == (SR // 2,)
    np.testing.assert_array_equal(y, ref)
    np.testing.assert_allclose(y, tone(), atol=2.0 / 2**15)


def test_int16_full_scale_maps_to_unit_range(tmp_path):
    pcm = np.array([-32768, -16384, 0, 16384, 32767], dtype=np.int16)
    path = tmp_path / "full.wav"
    sf.write(path, pcm, 8000, subtype="PCM_16")
    y, sr = audio.load(path, sr=None)
    np.testing.assert_array_equal(y, [-1.0, -0.5, 0.0, 0.5, 32767 / 32768])
    np.testing.assert_array_equal(audio.to_float(pcm), y)


@pytest.mark.parametrize("key", ["stereo", "flac", "PCM_16"])
def test_load_matches_librosa_mono_resampled(files, key):
    y, sr = audio.load(files[key])  # 44100 -> 22050, mono mix
    ref, ref_sr = librosa.load(files[key])
    assert sr == ref_sr == 22050
    assert y.shape == ref.shape and y.dtype == ref.dtype
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=0)


def test_load_matches_librosa_stereo_offset_duration(files):
    kw = dict(sr=16000, mono=False, offset=0.05, duration=0.2)
    y, sr = audio.load(files["stereo"], **kw)
    ref, _ = librosa.load(files["stereo"], **kw)
    assert y.shape == ref.shape == (2, 3200)
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=0)


def test_mono_is_channel_average(files, stereo):
    y, _ = audio.load(files["stereo"], sr=None)
    y2, _ = audio.load(files["stereo"], sr=None, mono=False)
    assert y2.shape == stereo.shape
    np.testing.assert_allclose(y2, stereo, atol=1.0 / 2**15)
    np.testing.assert_allclose(y, y2.mean(axis=0), atol=1e-7)


def test_mono_file_with_mono_false_stays_1d_and_float64(files):
    y, sr = audio.load(files["FLOAT"], sr=None, mono=False, dtype=np.float64)
    assert y.shape == (SR // 2,) and y.dtype == np.float64 and sr == SR


def test_offset_and_duration_count_samples_like_librosa(files):
    y, _ = audio.load(files["FLOAT"], sr=None, offset=0.1, duration=0.25)
    start = int(0.1 * SR)
    np.testing.assert_array_equal(y, tone()[start : start + int(0.25 * SR)])


def test_integral_float_sr_comes_back_as_int(files):
    y, sr = audio.load(files["FLOAT"], sr=22050.0)
    assert sr == 22050 and isinstance(sr, int)


# ---------------------------------------------------------------------------
# load: errors


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match=r"no such file.*nope\.wav"):
        audio.load(path)


def test_directory(tmp_path):
    with pytest.raises(AudioError, match="is a directory"):
        audio.load(tmp_path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(AudioError, match=r"cannot read audio file .*noise\.wav.*: .*not recognised"):
        audio.load(path)


def test_truncated_header(tmp_path, files):
    path = tmp_path / "cut.wav"
    path.write_bytes(files["PCM_16"].read_bytes()[:30])
    with pytest.raises(AudioError, match=r"cannot read audio file .*cut\.wav.*: .+"):
        audio.load(path)


def test_truncated_data_warns(tmp_path, files):
    path = tmp_path / "short.wav"
    path.write_bytes(files["PCM_16"].read_bytes()[:1044])  # 44-byte header + 500 samples
    with pytest.warns(UserWarning, match=r"short\.wav.*truncated"):
        y, _ = audio.load(path, sr=None)
    assert y.shape == (500,)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav"):
        audio.load(path)


def test_zero_frame_file(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, np.float32), SR)
    with pytest.raises(AudioError, match=r"zero\.wav.*0 frames"):
        audio.load(path)


def test_nan_inf_in_file(tmp_path):
    x = tone()
    x[100] = np.nan
    x[200] = np.inf
    path = tmp_path / "bad.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"bad\.wav.*2 non-finite samples.*nan at sample 100"):
        audio.load(path)


@pytest.mark.parametrize("sr", [0, -22050, "22050", float("nan"), True, [22050]])
def test_bad_sr(files, sr):
    with pytest.raises(ParameterError, match="sr"):
        audio.load(files["FLOAT"], sr=sr)


def test_offset_beyond_end(files):
    with pytest.raises(ParameterError, match=r"offset=0\.5 s is at or beyond the end.*0\.5 s \(22050 frames"):
        audio.load(files["FLOAT"], offset=0.5)
    with pytest.raises(ParameterError, match="offset must be >= 0"):
        audio.load(files["FLOAT"], offset=-1.0)


def test_bad_duration_dtype_mono_path(files):
    with pytest.raises(ParameterError, match="shorter than one sample"):
        audio.load(files["FLOAT"], duration=1e-7)
    with pytest.raises(ParameterError, match="duration must be > 0"):
        audio.load(files["FLOAT"], duration=0.0)
    with pytest.raises(ParameterError, match="floating-point dtype.*int16"):
        audio.load(files["FLOAT"], dtype=np.int16)
    with pytest.raises(ParameterError, match="mono must be True or False"):
        audio.load(files["FLOAT"], mono="yes")
    with pytest.raises(ParameterError, match="path must be a file path"):
        audio.load(3)


# ---------------------------------------------------------------------------
# save


def test_round_trip_float_is_exact(tmp_path, stereo):
    path = tmp_path / "rt.wav"
    audio.save(path, stereo, SR, subtype="FLOAT")
    y, sr = audio.load(path, sr=None, mono=False)
    assert sr == SR
    np.testing.assert_array_equal(y, stereo)


@pytest.mark.parametrize("name,subtype,tol", [("rt.wav", None, 1 / 2**15), ("rt.flac", "PCM_24", 1 / 2**23)])
def test_round_trip_pcm(tmp_path, name, subtype, tol):
    x = tone()
    path = tmp_path / name
    audio.save(path, x, SR, subtype=subtype)
    y, _ = audio.load(path, sr=None)
    np.testing.assert_allclose(y, x, atol=tol)


def test_save_accepts_jax_arrays_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "j.wav"
    audio.save(path, jnp.asarray(tone()), SR)
    assert os.listdir(tmp_path) == ["j.wav"]
    umask = os.umask(0)
    os.umask(umask)
    # permissions of a normal new file, not mkstemp's private 0o600
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_failed_save_keeps_existing_file(tmp_path):
    path = tmp_path / "keep.wav"
    audio.save(path, tone(), SR)
    before = path.read_bytes()
    bad = tone()
    bad[5] = np.nan
    with pytest.raises(AudioError, match="non-finite"):
        audio.save(path, bad, SR)
    with pytest.raises(ParameterError, match="clip"):
        audio.save(path, 2 * tone(amp=1.0), SR)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.wav"]


def test_an_existing_file_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "x.wav"
    audio.save(path, tone(), SR)
    before = path.read_bytes()
    for kwargs in ({}, {"overwrite": False}):  # the default refuses
        with pytest.raises(jaxmusic.OutputError, match=r"x\.wav.*exists.*overwrite=True"):
            audio.save(path, tone(f=220.0), SR, **kwargs)
        assert path.read_bytes() == before
    audio.save(path, tone(f=220.0), SR, overwrite=True)
    assert path.read_bytes() != before
    new = tmp_path / "new.wav"
    audio.save(new, tone(), SR, overwrite=False)
    assert new.exists()
    assert sorted(os.listdir(tmp_path)) == ["new.wav", "x.wav"]


def test_save_errors(tmp_path):
    x = tone()
    with pytest.raises(ParameterError, match=r"shape \(samples,\) or \(channels, samples\), got shape \(1, 2, 3\)"):
        audio.save(tmp_path / "a.wav", np.zeros((1, 2, 3), np.float32), SR)
    with pytest.raises(ParameterError, match=r"\(22050, 2\).*pass y\.T"):
        audio.save(tmp_path / "a.wav", np.zeros((22050, 2), np.float32), SR)
    for sr in (0, -1, 22050.5, "44100"):
        with pytest.raises(ParameterError, match="sr"):
            audio.save(tmp_path / "a.wav", x, sr)
    with pytest.raises(ParameterError, match=r"extension '\.xyz'"):
        audio.save(tmp_path / "a.xyz", x, SR)
    with pytest.raises(ParameterError, match="subtype 'PCM_99' is not valid for WAV"):
        audio.save(tmp_path / "a.wav", x, SR, subtype="PCM_99")
    with pytest.raises(ParameterError, match=r"peaks at 1\.5.*'PCM_16'.*subtype='FLOAT'"):
        audio.save(tmp_path / "a.wav", 3 * x, SR)
    audio.save(tmp_path / "loud.wav", 3 * x, SR, subtype="FLOAT")  # float keeps it
    with pytest.raises(AudioError, match="empty"):
        audio.save(tmp_path / "a.wav", np.zeros(0, np.float32), SR)
    with pytest.raises(ParameterError, match="to_float"):
        audio.save(tmp_path / "a.wav", np.zeros(10, np.int16), SR)
    with pytest.raises(AudioError, match="does not exist"):
        audio.save(tmp_path / "missing" / "a.wav", x, SR)
    with pytest.raises(AudioError, match="is a directory"):
        os.mkdir(tmp_path / "d.wav")
        audio.save(tmp_path / "d.wav", x, SR)
    assert not (tmp_path / "a.wav").exists()


# ---------------------------------------------------------------------------
# validate, to_float


def test_validate_returns_input():
    x = tone()
    assert audio.validate(x) is x
    s = np.zeros((2, 10), np.float32)
    assert audio.validate(s) is s
    j = jnp.ones(5)
    assert audio.validate(j, mono=True) is j


def test_validate_errors():
    with pytest.raises(ParameterError, match=r"y must be floating point, got integer dtype int16.*to_float\(y\)"):
        audio.validate(np.zeros(4, np.int16))
    with pytest.raises(ParameterError, match="complex"):
        audio.validate(np.zeros(4, np.complex64))
    with pytest.raises(ParameterError, match=r"mono audio.*shape \(2, 4\).*mean"):
        audio.validate(np.zeros((2, 4), np.float32), mono=True)
    with pytest.raises(ParameterError, match=r"got shape \(\)"):
        audio.validate(np.float32(1.0))
    with pytest.raises(ParameterError, match="array"):
        audio.validate([0.0, 1.0])
    with pytest.raises(AudioError, match=r"sig is empty \(shape \(0,\)\)"):
        audio.validate(np.zeros(0, np.float32), name="sig")
    with pytest.raises(AudioError, match=r"empty \(shape \(2, 0\)\)"):
        audio.validate(np.zeros((2, 0), np.float32))


def test_validate_nan_report_names_count_and_position():
    x = np.zeros((2, 100), np.float32)
    x[1, 7] = np.nan
    x[0, 9] = -np.inf
    x[1, 50] = np.inf
    with pytest.raises(AudioError, match=r"3 non-finite samples .* shape \(2, 100\); the first is nan at sample 7 of channel 1"):
        audio.validate(x)


def test_validate_under_jit_checks_only_static_information():
    f = jax.jit(lambda v: audio.validate(v, mono=True) * 2)
    np.testing.assert_array_equal(f(jnp.ones(3)), 2 * np.ones(3))
    with pytest.raises(ParameterError, match="mono"):
        f(jnp.ones((2, 3)))


def test_to_float():
    np.testing.assert_array_equal(audio.to_float(np.array([-2**31, 2**30], np.int32)), [-1.0, 0.5])
    np.testing.assert_array_equal(audio.to_float(np.array([0, 128, 255], np.uint8)), [-1.0, 0.0, 127 / 128])
    x = np.array([0.25, 2.0], np.float64)
    y = audio.to_float(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x)  # floats are cast, never rescaled
    assert audio.to_float(np.zeros(3, np.int16), dtype=np.float64).dtype == np.float64
    with pytest.raises(ParameterError, match="bool"):
        audio.to_float(np.zeros(3, bool))
    with pytest.raises(ParameterError, match="floating-point dtype"):
        audio.to_float(np.zeros(3, np.int16), dtype=np.int32)
    with pytest.raises(ParameterError, match="array"):
        audio.to_float([1, 2])
