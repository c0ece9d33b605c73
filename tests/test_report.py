"""The listening pages (`jaxmusic.report`, ``jaxmusic report``).

Small run folders are built here (short WAV and FLAC files, PNGs, the JSON each kind
writes, trimmed); no experiment runs. The browser test opens a page in headless
Chromium (``/usr/bin/chromium``; Debian's ``chromium`` package) and is skipped,
saying why, where it is not installed.
"""

from __future__ import annotations

import fnmatch
import html
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import soundfile as sf

html5lib = pytest.importorskip("html5lib", reason="html5lib checks the pages' HTML (pip install -e '.[test]')")

from jaxmusic._files import OutputError, claim_dir, read_marker  # noqa: E402
from jaxmusic.cli import main  # noqa: E402
from jaxmusic.report import write_output_report, write_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")


# ------------------------------------------------------------------------------------ building folders
def _tone(path: Path, seconds: float, sr: int, *, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(seconds * sr))) / sr
    y = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(path, np.stack([y] * channels, axis=1) if channels > 1 else y, sr)
    return path


def _png(path: Path, width: int = 90, height: int = 40) -> Path:
    from matplotlib.image import imsave

    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(path, np.linspace(0, 1, width * height).reshape(height, width))
    return path


def _json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _recognition(run: Path) -> str:
    rows = [{"features": "mfcc", "model": model, "error": err, "error_std_over_seeds": 0.4,
             "errors": {"test=A": err - 4, "test=B": err + 4}, "accuracy": 100 - err,
             "per_class_recall": {"piano": 0.75, "violin": 0.5}, "confusion": [[3, 1], [2, 2]], "seconds": 0.05,
             "runs": 2} for model, err in (("logreg", 49.0), ("knn", 41.5))]
    _json(run / "results.json", {"complete": True, "partial": None, "rows": rows, "classes": ["piano", "violin"],
                                 "sources": ["A", "B"], "folds": [{"name": "test=A", "train": 8, "test": 8},
                                                                  {"name": "test=B", "train": 8, "test": 8}],
                                 "config": {"data": "gm8", "split": "source", "seeds": 1, "quick": True, "sr": 16000,
                                            "n_notes": 16},
                                 "diagnostics": {"mfcc": {"source_error": 25.5}}})
    _png(run / "results.png", 140, 40)
    _png(run / "confusion" / "mfcc-logreg.png")
    _png(run / "confusion" / "mfcc-knn.png")
    _png(run / "curves" / "cqt-spiral" / "curves.png")
    _json(run / "curves" / "cqt-spiral" / "metrics.json",
          {"history": [{"step": 10, "train_loss": 2.0, "val_loss": 2.1}, {"step": 20, "train_loss": 1.0,
                                                                           "val_loss": 1.5}], "best_step": 20})
    return "45.0 – 53.0", "Recall per class", "Source identifiability"  # the logreg row's fold range


def _timbre(run: Path) -> str:
    per = {"piano": {"lost_share": 0.4, "n_notes": 5, "n_lost": 2}}
    pitch = {m: {"lost_share": s, "n_notes": 5, "n_lost": int(5 * s), "octave_share": 0.0, "unvoiced_share": 0.2,
                 "per_class": per} for m, s in (("identity", 0.0), ("envelope", 0.4), ("plain autoencoder", 0.6))}
    _json(run / "results.json", {"pitch_test": pitch,
                                 "reconstruction": {"autoencoder": {"spectral_convergence": 0.32,
                                                                    "log_spectral_distance_db": 5.9}},
                                 "bandwidth": {"input": {"rolloff_hz": 2343.75},
                                               "models": {"trumpet": {"training": {"rolloff_hz": 2656.25},
                                                                      "output": {"rolloff_hz": 2343.75},
                                                                      "output_minus_training_hz": -312.5,
                                                                      "output_minus_input_hz": 0.0, "nearer": "input"}}},
                                 "settings": {"sr": 16000, "steps": 400, "train_classes": ["trumpet"],
                                              "input_classes": ["piano"], "n_files": 1, "n_notes": 5}})
    for m in ("identity", "envelope", "plain-autoencoder"):
        _png(run / f"pitch-{m}" / "pitch_test.png")
        _json(run / f"pitch-{m}" / "pitch_test.json", {"lost_share": 0.4})
    _tone(run / "audio" / "input.wav", 0.5, 16000)
    _tone(run / "audio" / "envelope.wav", 0.5, 16000)
    _tone(run / "audio" / "plain-autoencoder.wav", 0.5, 16000)
    _png(run / "comparison.png", 60, 120)
    _png(run / "models" / "trumpet" / "curves.png")
    _json(run / "models" / "trumpet" / "metrics.json", {"history": [{"step": 50, "train_loss": 0.2, "val_loss": 0.1}]})
    return "octave errors", "Lost pitch by input class", "2656", "5.90"  # pitch test, bandwidth, reconstruction


def _translation(run: Path) -> str:
    _json(run / "results.json", {
        "training": {"translator": {"steps_taken": 60, "train_loss": 4.94, "val_loss": 4.88,
                                    "val_domain_accuracy": 60.5, "seconds": 87.0}},
        "reconstruction": {"translator, trumpet": {"spectral_convergence": 1.33, "log_spectral_distance_db": 29.8}},
        "pitch_test": {"translation trumpet -> flute": {"lost_share": 1.0, "n_notes": 4}},
        "settings": {"domains": ["trumpet", "flute"], "sr": 8000, "steps": 60, "n_files": 1, "n_notes": 4}})
    for name in ("translator-trumpet", "translation-trumpet", "translator-flute", "translation-flute",
                 "morph-0", "morph-0.5", "morph-1"):
        _tone(run / "audio" / f"{name}.wav", 0.25, 8000)
    _png(run / "spectrograms-trumpet.png")
    _png(run / "morph.png")
    return "60.5 %", "29.80", "α = 0.5"  # domain classifier, reconstruction, a morph


def _inversion(run: Path) -> str:
    _json(run / "inversion.json", {"note": {"instrument": "violin", "pitch": 67, "velocity": 100, "sr": 16000, "n": 4096},
                                   "config": {"J": 5, "Q": 8, "steps": 3, "seed": 0},
                                   "results": {"scattering": {"paths": 84, "coefficients": 10752, "error": 0.0351,
                                                              "error_start": 1.17, "spectral_convergence": 0.386,
                                                              "spectral_convergence_start": 1.3, "steps_per_s": 13.5,
                                                              "error_curve": [1.17, 0.5, 0.0351]}}})
    _tone(run / "original.wav", 0.256, 16000)
    _tone(run / "reconstruction_scattering.wav", 0.256, 16000)
    _png(run / "inversion.png", 60, 80)
    return "117.0 % → 3.51 %", "10,752", "<svg"  # coefficient error, coefficients, the error curve


def _style(run: Path) -> str:
    _json(run / "style.json", {"content": {"instrument": "clarinet", "keys": [62, 65]},
                               "style": {"instrument": "violin", "keys": [67, 71]},
                               "config": {"sr": 16000, "steps": 3, "J": 7},
                               "results": {"conv1d": {"loss_start": 5.9, "loss": 1.19, "content_loss": 0.42,
                                                      "style_loss_start": 5.9, "style_loss": 0.77,
                                                      "timbre_to_style": 0.37, "content_change": 0.95,
                                                      "steps_per_s": 3.0, "loss_curve": [5.9, 2.0, 1.19]}}})
    for name in ("content", "style", "result_conv1d"):
        _tone(run / f"{name}.wav", 0.5, 16000)
    _png(run / "style_transfer.png")
    return "5.900 → 1.190", "0.37", "<svg"  # loss, timbre to style, the loss curve


def _autoencoder(run: Path) -> str:
    _json(run / "metrics.json", {"history": [{"step": 25, "train_loss": 0.4, "val_loss": 0.3},
                                             {"step": 50, "train_loss": 0.0697, "val_loss": 0.062}], "best_step": 50})
    _json(run / "autoencoder.json", {"config": {"sr": 16000, "n_fft": 1024}, "info": {"steps_taken": 50}})
    _png(run / "curves.png")
    _tone(run / "reconstruction.wav", 0.5, 16000)
    return "0.0697", "n_fft"


def _demo(run: Path) -> str:
    _json(run / "summary.json", {"instrument": "violin", "pitch": 64, "mfcc_shape": [20, 32]})
    _png(run / "features.png")
    return "violin", "mfcc_shape"


def _helix(run: Path) -> str:  # a kind without its own section: its JSON's numbers, no media at all
    _json(run / "results.json", {"explained_variance": 0.8125, "n_bins": 84})
    return "0.8125", "n_bins"


KINDS = {"recognition": _recognition, "experiment-timbre": _timbre, "experiment-translation": _translation,
         "experiment-inversion": _inversion, "experiment-style": _style, "autoencoder": _autoencoder,
         "demo-note": _demo, "experiment-helix": _helix}


def _run_folder(path: Path, kind: str) -> tuple[Path, tuple]:
    """A run folder of ``kind`` as jaxmusic writes it (marker and names), and what its page must show."""
    staging = path.with_name(path.name + ".staging")
    shown = KINDS[kind](staging)
    run = claim_dir(path, kind)
    for entry in sorted(os.listdir(staging)):
        os.replace(staging / entry, run / entry)  # ``run / entry`` records the name, as the writers do
    staging.rmdir()
    return path, shown


@pytest.fixture
def rich_run(tmp_path):
    """A recognition folder with every kind of entry the page must handle."""
    run, _ = _run_folder(tmp_path / "my run", "recognition")
    _tone(run / "sounds" / "a note.wav", 0.5, 16000)          # a space in the name
    _tone(run / "sounds" / "b#1.flac", 0.25, 8000, channels=2)  # '#' must be escaped in the URL
    _tone(run / "top.wav", 0.3, 22050)
    (run / "broken.wav").write_bytes(b"not a sound at all")   # listed, without a player or a link
    _tone(run / ".hidden.wav", 0.1, 8000)                     # hidden: not shown
    _png(run / "checkpoints" / "x.png")                       # checkpoints are not searched
    outside = _tone(tmp_path / "elsewhere.wav", 0.1, 8000)
    (run / "link.wav").symlink_to(outside)                    # leads out of the folder: not shown
    return run  # the marker lists only what the run wrote: the rest is the user's, and shown too


# ------------------------------------------------------------------------------------ reading pages
def _parse(text: str):
    """Parse with html5lib in strict mode: any parse error raises."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)


def _urls(doc) -> list[tuple[str, str]]:
    out = []
    for el in doc.iter():
        for attr in ("href", "src", "srcset", "poster", "data"):
            if el.get(attr) is not None:
                out.append((el.tag, el.get(attr)))
    return out


def _target(page: Path, url: str) -> Path:
    parts = urlsplit(url)
    assert not parts.scheme and not parts.netloc, f"{url!r} is not a relative link"
    assert not parts.path.startswith("/"), f"{url!r} is an absolute path"
    return (page.parent / unquote(parts.path)).resolve()


def _check_links(page: Path, folder: Path) -> dict:
    """Every link and source of ``page`` is relative, exists inside ``folder``; every sound decodes."""
    text = page.read_text()
    doc = _parse(text)
    assert "file:" not in text.lower()
    assert str(folder.resolve().parent) not in text and str(folder.parent) not in text
    root = folder.resolve()
    found = {"audio": [], "img": [], "a": []}
    for tag, url in _urls(doc):
        if url.startswith("#"):
            assert doc.find(f".//*[@id='{url[1:]}']") is not None, f"no anchor for {url}"
            continue
        target = _target(page, url)
        assert target == root or root in target.parents, f"{url!r} leads out of {folder}"
        assert target.is_file(), f"{url!r}: {target} does not exist"
        if target.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3"):
            y, sr = sf.read(target)
            assert len(y) > 0 and sr > 0
        found.setdefault(tag, []).append(target.relative_to(root).as_posix())
    return found


# ------------------------------------------------------------------------------------ the tests
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_gets_a_valid_page_with_its_numbers(tmp_path, kind):
    run, shown = _run_folder(tmp_path / "run", kind)
    page = write_report(run)
    assert page == run / "index.html"
    text = page.read_text()
    _parse(text)
    for s in shown:
        assert s in text, f"the {kind} page lacks {s!r}"
    assert "could not be read" not in text
    found = _check_links(page, run)
    audio = sorted(p.relative_to(run).as_posix() for p in run.rglob("*.wav"))
    assert sorted(found["audio"]) == audio  # every sound has one player
    images = sorted(p.relative_to(run).as_posix() for p in run.rglob("*.png"))
    assert sorted(found["img"]) == images  # every figure has one thumbnail ...
    assert set(images) <= set(found["a"])  # ... linking to the full-size file
    assert "index.html" in read_marker(run)["names"]


def test_links_are_relative_exist_and_decode(rich_run):
    page = write_report(rich_run)
    text = page.read_text()
    found = _check_links(page, rich_run)
    assert sorted(found["audio"]) == ["sounds/a note.wav", "sounds/b#1.flac", "top.wav"]
    assert "sounds/a%20note.wav" in text and "sounds/b%231.flac" in text
    for shown in ("0.50 s · 16000 Hz · mono", "0.25 s · 8000 Hz · stereo", "0.30 s · 22050 Hz"):
        assert shown in text  # each sound's length and sample rate
    assert "broken.wav" in text and "no player" in text  # named, not linked
    for hidden in (".hidden.wav", "checkpoints/x.png", "link.wav", "elsewhere"):
        assert hidden not in text
    # the recognition tables: the rows by error with their spreads, the per-class recall, the curves
    assert text.index("knn") < text.index("logreg")
    assert "45.0 – 53.0" in text and "37.5 – 45.5" in text and "± seeds" in text
    assert "Recall per class" in text and "Source identifiability" in text and "cqt-spiral" in text


def test_run_without_audio_or_figures_gets_a_page(tmp_path):
    run = claim_dir(tmp_path / "empty", "features")
    page = write_report(run)  # a RunDir as the commands hold it
    text = page.read_text()
    _parse(text)
    assert "<audio" not in text and "<img" not in text
    assert "no figures and no sounds" in text
    assert read_marker(tmp_path / "empty")["names"] == ["index.html"]


def test_folder_without_marker_is_refused_unless_forced(tmp_path, capsys):
    folder = tmp_path / "mine"
    _tone(folder / "song.wav", 0.2, 8000)
    with pytest.raises(OutputError, match="not written by jaxmusic"):
        write_report(folder)
    assert not (folder / "index.html").exists()
    assert main(["report", str(folder)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["report", "--force", str(folder)]) == 0
    assert "index.html" in capsys.readouterr().out
    _check_links(folder / "index.html", folder)
    assert read_marker(folder)["names"] == ["index.html"]  # song.wav stays the user's


def test_index_html_of_someone_else_is_refused(tmp_path):
    run, _ = _run_folder(tmp_path / "run", "experiment-style")
    (run / "index.html").write_text("mine")
    with pytest.raises(OutputError, match="did not write"):
        write_report(run)
    assert (run / "index.html").read_text() == "mine"
    write_report(run, force=True)
    assert "Style transfer" in (run / "index.html").read_text()


def test_page_is_rewritten_and_never_lists_itself(tmp_path):
    run, _ = _run_folder(tmp_path / "run", "demo-note")
    first = write_report(run).read_text()
    second = write_report(run).read_text()
    assert first.count("index.html") == second.count("index.html") == 0


def test_missing_path_and_file_are_refused(tmp_path):
    from jaxmusic import ParameterError

    with pytest.raises(ParameterError, match="does not exist"):
        write_report(tmp_path / "nope")
    with pytest.raises(ParameterError, match="not a folder"):
        write_report(_tone(tmp_path / "a.wav", 0.1, 8000))


def test_damaged_json_still_gets_a_page(tmp_path):
    run, _ = _run_folder(tmp_path / "run", "recognition")
    (run / "results.json").write_text(json.dumps({"rows": ["not a row"], "folds": 3}))
    text = write_report(run).read_text()
    _parse(text)
    assert "could not be read" in text
    assert "confusion/mfcc-knn.png" in text  # the figures are still shown
    (run / "results.json").write_text("{ truncated")
    text = write_report(run).read_text()
    assert "results.json could not be read" in text


def test_output_page_beside_a_single_output(tmp_path):
    out = _tone(tmp_path / "out dir" / "out.wav", 0.5, 22050)
    fig = _png(tmp_path / "out dir" / "out.png")
    source = _tone(tmp_path / "in" / "voice.wav", 0.5, 22050)
    page = write_output_report(out, fig, title="jaxmusic hybridize --method envelope",
                               inputs=[source, "gm8:trumpet"])
    assert page == tmp_path / "out dir" / "out.html"
    text = page.read_text()
    found = _check_links(page, page.parent)
    assert found["audio"] == ["out.wav"] and found["img"] == ["out.png"]
    assert "0.50 s · 22050 Hz" in text and "voice.wav" in text and "gm8:trumpet" in text
    assert str(tmp_path) not in text
    with pytest.raises(OutputError, match="exists"):
        write_output_report(out, fig, title="again")
    write_output_report(out, None, title="again", overwrite=True)
    assert "<img" not in page.read_text()
    with pytest.raises(OutputError, match="input"):
        write_output_report(out, title="x", inputs=[page], overwrite=True)
    from jaxmusic import ParameterError

    with pytest.raises(ParameterError, match="outside"):
        write_output_report(out, _png(tmp_path / "other.png"), title="x", overwrite=True)


def test_cli_report_of_an_output_sound(tmp_path, capsys):
    out = _tone(tmp_path / "out.wav", 0.2, 8000)
    _png(tmp_path / "out.png")
    assert main(["report", str(out)]) == 0
    text = (tmp_path / "out.html").read_text()
    assert 'src="out.png"' in text and 'src="out.wav"' in text
    assert main(["report", str(out)]) == 2  # out.html exists now
    assert "exists" in capsys.readouterr().err


def test_template_ships_as_package_data():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = conf["tool"]["setuptools"]["package-data"]["jaxmusic"]
    templates = [p.relative_to(ROOT / "jaxmusic").as_posix() for p in (ROOT / "jaxmusic" / "templates").iterdir()]
    assert templates
    for t in templates:
        assert any(fnmatch.fnmatch(t, p) for p in patterns), f"{t} is not package data: pip install would drop it"
    deps = " ".join(conf["project"]["dependencies"])
    assert "jinja2" in deps.lower()


# ------------------------------------------------------------------------------------ in a browser
_CHECK = """
<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    errors.push(e.message || ("failed to load " + (e.target && (e.target.currentSrc || e.target.src || e.target.href))));
  }, true);
  function report() {
    var out = {errors: errors, audio: [], images: []};
    document.querySelectorAll("audio").forEach(function (a) {
      out.audio.push({src: a.getAttribute("src"), duration: a.duration, error: a.error && a.error.code});
    });
    document.querySelectorAll("img").forEach(function (i) {
      out.images.push({src: i.getAttribute("src"), width: i.naturalWidth});
    });
    var pre = document.createElement("pre");
    pre.id = "jaxmusic-check";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  window.addEventListener("load", function () {
    var players = Array.prototype.slice.call(document.querySelectorAll("audio"));
    var left = players.filter(function (a) { return a.readyState < 1 && !a.error; }).length;
    if (!left) { report(); return; }
    var done = false;
    function one() { if (--left === 0 && !done) { done = true; report(); } }
    players.forEach(function (a) {
      if (a.readyState < 1 && !a.error) {
        a.addEventListener("loadedmetadata", one);
        a.addEventListener("error", one);
      }
    });
    setTimeout(function () { if (!done) { done = true; report(); } }, 8000);
  });
})();
</script>
"""


def _chromium(*args, profile: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--no-first-run", f"--user-data-dir={profile}",
                           "--enable-logging=stderr", "--v=0", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(not CHROMIUM.is_file(),
                    reason=f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium, which "
                           "make install runs as root), so the page is not opened in a browser here")
def test_page_in_headless_chromium(rich_run, tmp_path):
    page = write_report(rich_run)
    # a copy of the page with a checking script, in the same folder so that the same relative links resolve
    checked = rich_run / "_browser_check.html"
    checked.write_text(page.read_text().replace("</body>", _CHECK + "</body>"))
    r = _chromium("--virtual-time-budget=10000", "--dump-dom", checked.as_uri(), profile=tmp_path / "profile")
    m = re.search(r'<pre id="jaxmusic-check">(.*?)</pre>', r.stdout, re.S)
    assert m, f"the checking script did not report (exit {r.returncode}): {r.stderr[-2000:]}"
    out = json.loads(html.unescape(m.group(1)))
    assert out["errors"] == []
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], "the browser's console shows: " + "\n".join(console)
    assert len(out["audio"]) == 3
    for a in out["audio"]:
        expected = sf.info(str(rich_run / unquote(a["src"]))).duration
        assert a["error"] is None and a["duration"] == pytest.approx(expected, abs=0.01), a
    assert out["images"] and all(i["width"] > 0 for i in out["images"]), out["images"]
    checked.unlink()

    shot = tmp_path / "report.png"
    r = _chromium("--virtual-time-budget=5000", "--window-size=1280,1800", f"--screenshot={shot}", page.as_uri(),
                  profile=tmp_path / "profile")
    assert shot.is_file() and shot.stat().st_size > 10_000, r.stderr[-2000:]
    print(f"screenshot of the page: {shot}")
