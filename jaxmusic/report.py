"""Listening pages: a static HTML page for every run folder and for single outputs.

- `write_report` writes ``RUN/index.html`` for a folder jaxmusic wrote (its marker,
  ``.jaxmusic.json``, says which kind of run it is): a title from the kind, the run's
  own tables rendered from its JSON (recognition: errors with their spreads over
  folds and seeds, per-class recall, confusion matrices and training curves; timbre:
  the pitch test, one row per method with its sounds and figures; translation: each
  domain's outputs and the morphs; inversion and style: target, iterations, result;
  trained models: their loss history), then every other figure as a thumbnail
  linking to the full-size file and every other sound with a player, its length and
  its sample rate, grouped by subfolder.
- `write_output_report` writes ``OUT.html`` beside a single output ``OUT.wav`` (and
  its figure ``OUT.png``), as ``jaxmusic hybridize`` and ``translate`` write them.

The pages are static: every link is relative to the page's folder (no absolute path,
no ``file://`` URL), nothing is fetched from the network and there is no script, so a
page opens the same from disk, from a zipped copy of the folder or from a static web
host. The HTML comes from a Jinja2 template shipped with the package
(``jaxmusic/templates/report.html.j2``), with autoescaping on.

Only figures and sounds inside the folder are shown (links leading out of it are
skipped), hidden entries and model checkpoints (``checkpoints/``, ``model/``) are
not searched, and a sound that soundfile cannot read is listed without a player.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import quote

from ._checks import ParameterError
from ._files import MARKER, OutputError, RunDir, as_run_dir, check_output_file, claim_dir, read_marker, write_text

__all__ = ["write_report", "write_output_report", "render_report", "KIND_TITLES", "PAGE"]

#: The name of a run folder's page.
PAGE = "index.html"

#: Page titles by run kind (the marker's ``kind``); other kinds get their own name.
KIND_TITLES = {
    "recognition": "Instrument recognition",
    "experiment-timbre": "Timbre transfer",
    "experiment-translation": "WaveNet autoencoder and music translation",
    "experiment-inversion": "Scattering inversion",
    "experiment-style": "Style transfer",
    "experiment-helix": "Pitch helix",
    "experiment-properties": "Representation properties",
    "experiment-kmeans": "k-means clustering",
    "experiment-linearization": "Linearization of deformations",
    "experiment-transposition": "Transposition distances",
    "autoencoder": "Timbre-transfer autoencoder",
    "wavenet-autoencoder": "WaveNet autoencoder",
    "wavenet-translator": "Universal music translator",
    "features": "Features",
    "demo-note": "Features of one note",
    "inversion": "Scattering inversion",
    "style-transfer": "Style transfer",
    "pitch-test": "Pitch test",
    "reconstruction": "Reconstruction",
    "training": "Training",
    "dataset": "Data set",
    "report": "Run folder",
}

_AUDIO = (".wav", ".flac", ".ogg", ".oga", ".mp3")
_IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")
_TEXT = (".json", ".md", ".txt", ".csv", ".tsv")
#: Folders never searched: model parameters and checkpoints (thousands of array files).
_SKIP_DIRS = {"checkpoints", "model", "__pycache__"}
_MAX_SHOWN = 400  #: figures (and, apart, sounds) shown per page; the rest are counted
_MAX_JSON = 2_000_000  #: bytes: larger JSON files are not read for tables


# ------------------------------------------------------------------------------------ what is shown
@dataclass
class Audio:
    """A sound of the page: its relative URL and what soundfile says of it."""

    path: str  #: relative to the page's folder, POSIX
    url: str
    label: str
    duration: float | None = None
    sr: int | None = None
    channels: int | None = None
    format: str = ""
    error: str | None = None

    @property
    def info(self) -> str:
        if self.error:
            return "unreadable"
        ch = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels} channels")
        return f"{self.duration:.2f} s · {self.sr} Hz · {ch} · {self.format}"


@dataclass
class Figure:
    """An image of the page, shown as a thumbnail linking to the full-size file."""

    path: str
    url: str
    label: str
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> str:
        return f"{self.width} × {self.height}" if self.width else ""

    @property
    def wide(self) -> bool:
        """Much wider than tall (a row of panels): shown across the page."""
        return bool(self.width and self.height and self.width > 2.2 * self.height)


@dataclass
class Link:
    url: str
    label: str
    size: str = ""


@dataclass
class Cell:
    text: str = ""
    num: bool = False
    title: str = ""
    bar: float | None = None    #: a bar behind the number, 0-100 (% of the cell's width)
    shade: float | None = None  #: a background tint, 0-1
    html: str | None = None     #: markup made here (a sparkline), never from the run's files


@dataclass
class Row:
    cells: list
    cls: str = ""


@dataclass
class Table:
    columns: list
    rows: list = field(default_factory=list)
    caption: str = ""
    note: str = ""


@dataclass
class Entry:
    """One row of media: a method, a transform, a model, with its sounds and figures."""

    label: str
    audio: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    text: str = ""
    empty: str = ""  #: said when the entry has neither sounds nor figures


@dataclass
class Section:
    title: str
    id: str = ""
    level: int = 2
    paragraphs: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    facts: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    audio: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    children: list = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.paragraphs or self.warnings or self.facts or self.tables or self.entries or self.audio
                    or self.figures or self.children)


# ------------------------------------------------------------------------------------ the folder
def _url(rel: str) -> str:
    return quote(rel, safe="/-_.~")


def _natural(s: str):
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", s)]


def _image_size(path: Path) -> tuple[int, int] | tuple[None, None]:
    """Width and height of a PNG, GIF or JPEG from its header (None, None when unknown)."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head[:6] in (b"GIF87a", b"GIF89a"):
                return struct.unpack("<HH", head[6:10])
            if head[:2] == b"\xff\xd8":
                f.seek(2)
                while True:
                    marker = f.read(4)
                    if len(marker) < 4 or marker[0] != 0xFF:
                        break
                    length = struct.unpack(">H", marker[2:4])[0]
                    if 0xC0 <= marker[1] <= 0xCF and marker[1] not in (0xC4, 0xC8, 0xCC):
                        h, w = struct.unpack(">HH", f.read(5)[1:5])
                        return w, h
                    f.seek(length - 2, 1)
    except (OSError, struct.error):
        pass
    return None, None


def _human_size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


class _Folder:
    """The files of a run folder, and which of them the page has shown so far.

    Kind renderers `take` figures and sounds by relative path (each shown once); what
    they leave goes to the generic part of the page, grouped by subfolder."""

    def __init__(self, root: Path, *, kind: str = "", scan: bool = True):
        self.root = root  # links are relative to it: the page's folder
        self.kind = kind
        self.audio: dict[str, Path] = {}
        self.images: dict[str, Path] = {}
        self.texts: dict[str, Path] = {}
        self.pages: dict[str, Path] = {}
        self.shown: set[str] = set()
        self.warnings: list[str] = []
        self._info: dict[str, Audio] = {}
        if scan:
            self._scan()

    def _scan(self) -> None:
        real_root = self.root.resolve()
        for dirpath, dirnames, filenames in os.walk(self.root):
            here = Path(dirpath)
            dirnames[:] = sorted((d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS
                                  and not (here / d).is_symlink()), key=_natural)
            for name in sorted(filenames, key=_natural):
                if name.startswith("."):
                    continue
                p = here / name
                try:  # a link leading out of the folder would break in a copy of it: never shown
                    inside = real_root == p.resolve().parent or real_root in p.resolve().parents
                except OSError:
                    inside = False
                if not inside or not p.is_file():
                    continue
                rel = p.relative_to(self.root).as_posix()
                ext = p.suffix.lower()
                if ext in _AUDIO:
                    self.audio[rel] = p
                elif ext in _IMAGES:
                    self.images[rel] = p
                elif ext in _TEXT and here == self.root:
                    self.texts[rel] = p
                elif name == PAGE and here != self.root:
                    self.pages[rel] = p

    # ---- media -------------------------------------------------------------------
    def audio_item(self, rel: str, label: str | None = None) -> Audio:
        if rel not in self._info:
            import soundfile

            a = Audio(path=rel, url=_url(rel), label=rel)
            try:
                info = soundfile.info(str(self.root / rel))
                if info.frames <= 0 or info.samplerate <= 0:
                    raise RuntimeError("no samples")
                a.duration, a.sr, a.channels = info.frames / info.samplerate, int(info.samplerate), info.channels
                a.format = f"{info.format} {info.subtype}".strip()
            except Exception as err:  # soundfile raises its own errors, and RuntimeError
                text = (str(err).splitlines() or [type(err).__name__])[0]
                # soundfile names the file by its full path: the page names it by its relative one
                a.error = text.replace(str(self.root / rel), rel).replace(str(self.root), ".")[:200]
            self._info[rel] = a
        a = self._info[rel]
        return Audio(**{**a.__dict__, "label": label or rel})

    def figure_item(self, rel: str, label: str | None = None) -> Figure:
        w, h = _image_size(self.root / rel)
        return Figure(path=rel, url=_url(rel), label=label or rel, width=w, height=h)

    def take_audio(self, rel: str, label: str | None = None) -> Audio | None:
        if rel not in self.audio or rel in self.shown:
            return None
        self.shown.add(rel)
        return self.audio_item(rel, label)

    def take_figure(self, rel: str, label: str | None = None) -> Figure | None:
        if rel not in self.images or rel in self.shown:
            return None
        self.shown.add(rel)
        return self.figure_item(rel, label)

    def take_audio_where(self, keep: Callable[[str], bool], label: Callable[[str], str] | None = None) -> list:
        """Every sound not shown yet whose relative path ``keep`` accepts, in folder order."""
        taken = [self.take_audio(rel, label(rel) if label else None) for rel in list(self.audio) if keep(rel)]
        return [a for a in taken if a is not None]

    def take_figures_where(self, keep: Callable[[str], bool], label: Callable[[str], str] | None = None) -> list:
        """Every figure not shown yet whose relative path ``keep`` accepts, in folder order."""
        taken = [self.take_figure(rel, label(rel) if label else None) for rel in list(self.images) if keep(rel)]
        return [f for f in taken if f is not None]

    def figures(self, *named: tuple[str, str]) -> list:
        """The figures ``(relative path, label)`` that exist and were not shown yet."""
        return [f for rel, label in named if (f := self.take_figure(rel, label)) is not None]

    # ---- numbers -----------------------------------------------------------------
    def json(self, rel: str):
        """The JSON file ``rel`` (None when absent; a warning when unreadable)."""
        p = self.root / rel
        if not p.is_file():
            return None
        try:
            if p.stat().st_size > _MAX_JSON:
                self.warnings.append(f"{rel} is too large to read for the tables ({_human_size(p.stat().st_size)})")
                return None
            return json.loads(p.read_text())
        except (OSError, ValueError) as err:
            self.warnings.append(f"{rel} could not be read ({err}); its tables are missing")
            return None


# ------------------------------------------------------------------------------------ formatting
def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", str(s).lower()).strip("-")


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _f(x, digits: int = 3) -> str:
    if not _is_num(x):
        return "–" if x is None else str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 10 ** -digits):
        return f"{x:.{digits}g}"
    return f"{x:.{digits}f}"


def _facts(*pairs) -> list[tuple[str, str]]:
    """The (name, value) pairs that have a value, values as text."""
    return [(k, _f(v) if _is_num(v) and not isinstance(v, int) else str(v)) for k, v in pairs
            if v is not None and v != ""]


def _hz(sr) -> str | None:
    return f"{sr} Hz" if _is_num(sr) else None


def _melodies(settings: dict) -> str | None:
    n = settings.get("n_notes")
    return f"{settings.get('n_files')} × {n} notes" if n else None


def _pct(share, digits: int = 1) -> str:
    return f"{100 * share:.{digits}f} %" if _is_num(share) else "–"


def _num_cell(x, digits: int = 3, **kw) -> Cell:
    return Cell(_f(x, digits), num=True, **kw)


def _share_cell(share, *, bar: bool = True) -> Cell:
    ok = _is_num(share)
    return Cell(_pct(share), num=True, bar=100 * min(max(share, 0.0), 1.0) if ok and bar else None)


def _sparkline(*series, width: int = 150, height: int = 34, log: bool = True) -> str | None:
    """An inline SVG of one or two curves (e.g. the error per iteration), log-scaled when
    every value is positive. Markup made here from numbers only."""
    from markupsafe import Markup

    series = [[float(v) for v in s if _is_num(v)] for s in series if s]
    series = [s for s in series if len(s) >= 2]
    if not series:
        return None
    use_log = log and all(v > 0 for s in series for v in s)
    tx = (lambda v: math.log10(v)) if use_log else (lambda v: v)
    lo = min(tx(v) for s in series for v in s)
    hi = max(tx(v) for s in series for v in s)
    span = hi - lo or 1.0
    lines = []
    for k, s in enumerate(series):
        n = len(s)
        step = max(1, n // 300)  # at most ~300 points per curve
        pts = " ".join(f"{2 + (width - 4) * i / (n - 1):.1f},{2 + (height - 4) * (1 - (tx(v) - lo) / span):.1f}"
                       for i, v in list(enumerate(s))[::step] + [(n - 1, s[-1])])
        cls = ' class="second"' if k else ""
        lines.append(f'<polyline{cls} points="{pts}"></polyline>')
    title = f"{series[0][0]:.4g} → {series[0][-1]:.4g} over {len(series[0])} points"
    title += " (log scale)" if use_log else ""
    return Markup(f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
                  f'aria-label="{Markup.escape(title)}"><title>{Markup.escape(title)}</title>{"".join(lines)}</svg>')


def _scalars(obj, prefix: str = "", depth: int = 2, limit: int = 40) -> list[tuple[str, str]]:
    """The scalar leaves of a JSON object (nested dicts up to ``depth``), as (key, text)."""
    out = []
    if not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth > 1:
            out += _scalars(v, key + ".", depth - 1, limit)
        elif isinstance(v, bool):
            out.append((key, "yes" if v else "no"))
        elif v is None or isinstance(v, str):
            out.append((key, "–" if v is None else str(v)[:120]))
        elif _is_num(v):
            out.append((key, str(v) if isinstance(v, int) else f"{v:.4g}"))
        elif isinstance(v, list) and len(v) <= 8 and all(isinstance(e, (str, int, float)) for e in v):
            out.append((key, ", ".join(_f(e) if _is_num(e) else str(e) for e in v)))
        if len(out) >= limit:
            break
    return out[:limit]


# ------------------------------------------------------------------------------------ kind sections
def _training_entry(folder: _Folder, prefix: str, label: str) -> tuple[Entry, list]:
    """A trained model's folder (``metrics.json``, ``curves.png``, ``*.json`` settings):
    an entry with its curves and a table row (steps, losses, history)."""
    p = f"{prefix}/" if prefix else ""
    metrics = folder.json(f"{p}metrics.json") or {}
    desc = {}
    for name in ("autoencoder.json", "wavenet.json"):
        d = folder.json(f"{p}{name}")
        if isinstance(d, dict):
            desc = d
    info = desc.get("info", {}) if isinstance(desc.get("info"), dict) else {}
    history = metrics.get("history", []) if isinstance(metrics, dict) else []
    history = [h for h in history if isinstance(h, dict)]
    last = history[-1] if history else {}
    train = [h.get("train_loss") for h in history]
    val = [h.get("val_loss") for h in history]
    steps = info.get("steps_taken", last.get("step"))
    row = [Cell(label), _num_cell(steps, 0), _num_cell(info.get("train_loss", last.get("train_loss")), 4),
           _num_cell(info.get("val_loss", last.get("val_loss")), 4),
           _num_cell(metrics.get("best_step") if isinstance(metrics, dict) else None, 0),
           _num_cell(info.get("seconds", last.get("seconds")), 1),
           Cell(html=_sparkline(train, val), title="train loss (blue) and validation loss (orange) per evaluation")]
    figs = folder.take_figures_where(lambda r: r.startswith(p) and r.count("/") == p.count("/"),
                                     lambda r: f"{label}: {Path(r).stem}" if label else Path(r).stem)
    sounds = folder.take_audio_where(lambda r: r.startswith(p) and r.count("/") == p.count("/"))
    return Entry(label, audio=sounds, figures=figs), row


_TRAINING_COLUMNS = ["model", "steps", "train loss", "validation loss", "best step", "seconds", "history"]


def _models_section(folder: _Folder, under: str, title: str = "Trained models") -> Section | None:
    """Every trained model in the subfolders of ``under`` (those with a ``metrics.json``)."""
    top = folder.root / under
    if not top.is_dir():
        return None

    def is_model(d: Path) -> bool:
        return (d.is_dir() and not d.is_symlink() and not d.name.startswith(".")
                and ((d / "metrics.json").is_file() or any(r.startswith(f"{under}/{d.name}/") for r in folder.images)))

    names = sorted((d.name for d in top.iterdir() if is_model(d)), key=_natural)
    if not names:
        return None
    table = Table(_TRAINING_COLUMNS)
    entries = []
    for n in names:
        e, row = _training_entry(folder, f"{under}/{n}", n)
        table.rows.append(Row(row))
        entries.append(e)
    return Section(title, id="models", tables=[table], entries=[e for e in entries if e.figures or e.audio])


def _pitch_test_tables(tests: dict, *, caption: str = "") -> list[Table]:
    """The pitch test per method (share of notes whose pitch is lost, octave errors,
    unvoiced outputs) and, when given, the lost share per input class."""
    table = Table(["method", "notes", "lost pitch", "octave errors", "unvoiced"], caption=caption,
                  note="Share of notes whose output pitch (pYIN) is more than the tolerance away from the input's; "
                       "octave errors and unvoiced outputs are counted among the lost.")
    classes = []
    for name, r in tests.items():
        if not isinstance(r, dict):
            continue
        table.rows.append(Row([Cell(name), _num_cell(r.get("n_notes"), 0), _share_cell(r.get("lost_share")),
                               _share_cell(r.get("octave_share"), bar=False),
                               _share_cell(r.get("unvoiced_share"), bar=False)]))
        for c in (r.get("per_class") or {}):
            if c not in classes:
                classes.append(c)
    tables = [table]
    if classes:
        per = Table(["method", *classes], caption="Lost pitch by input class")
        for name, r in tests.items():
            if not isinstance(r, dict):
                continue
            cells = [Cell(name)]
            for c in classes:
                rc = (r.get("per_class") or {}).get(c) or {}
                s = rc.get("lost_share")
                cells.append(Cell(_pct(s, 0), num=True, shade=0.55 * s if _is_num(s) else None,
                                  title=f"{rc.get('n_lost', '?')} of {rc.get('n_notes', '?')} notes"))
            per.rows.append(Row(cells))
        tables.append(per)
    return tables


def _reconstruction_table(recon: dict, caption: str = "Reconstruction") -> Table:
    t = Table(["", "spectral convergence", "log-spectral distance (dB)"], caption=caption,
              note="Lower is better: spectral convergence is ‖|X| − |Y|‖ / ‖|X|‖ of the STFT magnitudes.")
    for name, r in recon.items():
        if isinstance(r, dict):
            t.rows.append(Row([Cell(name), _num_cell(r.get("spectral_convergence")),
                               _num_cell(r.get("log_spectral_distance_db"), 2)]))
    return t


def _render_recognition(folder: _Folder) -> list[Section]:
    res = folder.json("results.json")
    sections = []
    top = Section("Results", id="results")
    if not isinstance(res, dict):
        top.warnings.append("results.json is missing: the run has not finished its first pipeline yet")
        top.figures += folder.figures(("results.png", "error by pipeline"))
        return [top]
    cfg = res.get("config") or {}
    if res.get("complete") is False:
        top.warnings.append(f"Partial results: {res.get('partial') or 'the run did not finish'}.")
    folds = res.get("folds") or []
    fold_text = "; ".join(f"{f.get('name')} ({f.get('train')} train, {f.get('test')} test)"
                          for f in folds if isinstance(f, dict))
    top.facts = _facts(("data", cfg.get("data")), ("split", cfg.get("split")),
                       ("sources", ", ".join(map(str, res.get("sources") or []))),
                       ("notes", cfg.get("n_notes")), ("sample rate", _hz(cfg.get("sr"))), ("seeds", cfg.get("seeds")),
                       ("folds", fold_text), ("quick", "yes" if cfg.get("quick") else None))
    top.paragraphs.append("Error = 1 − mean per-class recall (%, the ISMIR 2016 metric), mean over folds and seeds; "
                          "the spread is the standard deviation over seeds and the range over folds.")
    rows = sorted((r for r in res.get("rows") or [] if isinstance(r, dict)),
                  key=lambda r: r.get("error") if _is_num(r.get("error")) else math.inf)
    fold_names = [f.get("name") for f in folds if isinstance(f, dict)] or sorted(
        {k for r in rows for k in (r.get("errors") or {})})
    table = Table(["", "features", "model", "error (%)", "± seeds", *[f"{n} (%)" for n in fold_names],
                   "fold range", "accuracy (%)", "seconds"])
    for i, r in enumerate(rows):
        errs = r.get("errors") or {}
        vals = [v for v in errs.values() if _is_num(v)]
        spread = f"{min(vals):.1f} – {max(vals):.1f}" if len(vals) > 1 else "–"
        err = r.get("error")
        table.rows.append(Row([Cell(str(i + 1), num=True), Cell(str(r.get("features", ""))),
                               Cell(str(r.get("model", ""))),
                               Cell(_f(err, 1), num=True, bar=min(max(err, 0), 100) if _is_num(err) else None),
                               _num_cell(r.get("error_std_over_seeds"), 1),
                               *[_num_cell(errs.get(n), 1) for n in fold_names],
                               Cell(spread, num=True), _num_cell(r.get("accuracy"), 1), _num_cell(r.get("seconds"), 1)],
                              cls="best" if i == 0 else ""))
    top.tables.append(table)
    classes = [str(c) for c in res.get("classes") or []]
    if classes and any(isinstance(r.get("per_class_recall"), dict) for r in rows):
        per = Table(["pipeline", *classes], caption="Recall per class (%)")
        for r in rows:
            rec = r.get("per_class_recall") or {}
            per.rows.append(Row([Cell(f"{r.get('features')} + {r.get('model')}"),
                                 *[Cell(_f(100 * rec[c], 0) if _is_num(rec.get(c)) else "–", num=True,
                                        shade=0.55 * (1 - rec[c]) if _is_num(rec.get(c)) else None) for c in classes]]))
        top.tables.append(per)
    diag = res.get("diagnostics") or folder.json("diagnostics.json") or {}
    if isinstance(diag, dict) and diag:
        n_src = len(res.get("sources") or [])
        t = Table(["features", "source error (%)"], caption="Source identifiability",
                  note="Error of a logistic regression telling the sources apart from the features"
                       + (f" (chance {100 * (1 - 1 / n_src):.0f} %)" if n_src > 1 else "")
                       + ": the lower, the more the features carry the source rather than the instrument.")
        t.rows = [Row([Cell(k), _num_cell(v.get("source_error"), 1)]) for k, v in diag.items() if isinstance(v, dict)]
        top.tables.append(t)
    top.figures += folder.figures(("results.png", "error by pipeline"))
    sections.append(top)

    conf = Section("Confusion matrices", id="confusion")
    for r in rows:
        key = _norm(f"{r.get('features')}-{r.get('model')}")
        conf.figures += folder.take_figures_where(
            lambda rel, key=key: rel.startswith("confusion/") and _norm(Path(rel).stem) == key,
            lambda rel, r=r: f"{r.get('features')} + {r.get('model')}")
    conf.figures += folder.take_figures_where(lambda rel: rel.startswith("confusion/"), lambda rel: Path(rel).stem)
    if conf.figures:
        sections.append(conf)
    curves = Section("Training curves", id="curves")
    names = sorted({rel.split("/")[1] for rel in folder.images if rel.startswith("curves/") and rel.count("/") >= 2},
                   key=_natural)
    if names:
        t = Table(_TRAINING_COLUMNS)
        for n in names:
            e, row = _training_entry(folder, f"curves/{n}", n)
            t.rows.append(Row(row))
            curves.figures += e.figures
        curves.tables.append(t)
    curves.figures += folder.take_figures_where(lambda rel: rel.startswith("curves/"))
    if not curves.empty():
        sections.append(curves)
    return sections


def _method_matches(rel: str, method: str) -> bool:
    """Whether a file belongs to a method: a component of its path is named after it
    (``envelope.wav``, ``audio/envelope.flac``, ``pitch-envelope/...``, ``output-envelope.wav``)."""
    m = _norm(method)
    for part in Path(rel).with_suffix("").parts:
        p = _norm(part)
        if p == m or any(p == f"{pre}-{m}" or p == f"{m}-{pre}" for pre in ("pitch", "output", "transfer", "result",
                                                                             "melody", "spectrogram", "spectrograms")):
            return True
    return False


def _render_timbre(folder: _Folder) -> list[Section]:
    res = folder.json("results.json")
    if not isinstance(res, dict):
        return []
    settings = res.get("settings") or {}
    sections = []
    top = Section("Pitch test", id="pitch")
    top.facts = _facts(("sample rate", _hz(settings.get("sr"))),
                       ("autoencoders trained", f"{settings['steps']} steps" if settings.get("steps") else None),
                       ("training classes", ", ".join(settings.get("train_classes") or [])),
                       ("input classes", ", ".join(settings.get("input_classes") or [])),
                       ("melodies", _melodies(settings)), ("quick", "yes" if settings.get("quick") else None))
    pitch = res.get("pitch_test") or {}
    if pitch:
        top.tables += _pitch_test_tables(pitch)
    top.figures += folder.figures(("summary.png", "summary: pitch test, reconstruction, bandwidth"))
    sections.append(top)

    methods = Section("One melody through every method", id="methods",
                      paragraphs=["One row per method: its sounds, its spectrograms and its pitch test."])
    inputs = folder.take_audio_where(lambda rel: any(_norm(p) in ("input", "melody", "source", "target")
                                                     for p in Path(rel).with_suffix("").parts))
    if inputs:
        methods.entries.append(Entry("input and target", audio=inputs))
    for name in pitch:
        audio = folder.take_audio_where(lambda rel, n=name: _method_matches(rel, n))
        figs = folder.take_figures_where(lambda rel, n=name: _method_matches(rel, n) and "pitch_test" not in rel)
        figs += folder.take_figures_where(lambda rel, n=name: _method_matches(rel, n),
                                          lambda rel: f"pitch test ({Path(rel).parent.as_posix()})")
        r = pitch.get(name) or {}
        methods.entries.append(Entry(name, audio=audio, figures=figs,
                                     text=f"pitch lost on {_pct(r.get('lost_share'))} of {r.get('n_notes', '?')} notes",
                                     empty="no sound or figure of this method in the folder"))
    methods.figures += folder.figures(("comparison.png", "spectrograms: one input melody, the target and every method"))
    sections.append(methods)

    recon = res.get("reconstruction") or {}
    if recon:
        s = Section("Reconstruction of the training class", id="reconstruction",
                    tables=[_reconstruction_table(recon, "")])
        s.figures += folder.take_figures_where(
            lambda rel: rel.startswith("reconstruction-"),
            lambda rel: Path(rel).parent.name.replace("reconstruction-", "reconstruction: "))
        s.audio += folder.take_audio_where(lambda rel: rel.startswith("reconstruction-"))
        sections.append(s)
    band = res.get("bandwidth") or {}
    if isinstance(band.get("models"), dict):
        rolloff_in = _f((band.get("input") or {}).get("rolloff_hz"), 0)
        t = Table(["training class", "training roll-off (Hz)", "output roll-off (Hz)", "output − training (Hz)",
                   "output − input (Hz)", "nearer to"],
                  note=f"85 % spectral roll-off; the input melodies': {rolloff_in} Hz. An output nearer to the "
                       "training class's bandwidth than to the input's has taken its timbre.")
        for c, m in band["models"].items():
            t.rows.append(Row([Cell(c), _num_cell((m.get("training") or {}).get("rolloff_hz"), 0),
                               _num_cell((m.get("output") or {}).get("rolloff_hz"), 0),
                               _num_cell(m.get("output_minus_training_hz"), 0),
                               _num_cell(m.get("output_minus_input_hz"), 0), Cell(str(m.get("nearer", "")))]))
        sections.append(Section("Bandwidth", id="bandwidth", tables=[t]))
    models = _models_section(folder, "models")
    if models:
        sections.append(models)
    return sections


def _render_translation(folder: _Folder) -> list[Section]:
    res = folder.json("results.json")
    if not isinstance(res, dict):
        return []
    settings = res.get("settings") or {}
    doms = [str(d) for d in settings.get("domains") or []]
    sections = []
    top = Section("Results", id="results")
    top.facts = _facts(("domains", ", ".join(doms)), ("sample rate", _hz(settings.get("sr"))),
                       ("steps", settings.get("steps")), ("melodies", _melodies(settings)))
    train = res.get("training") or {}
    if train:
        t = Table(["model", "steps", "train loss (nats/sample)", "validation loss", "domain classifier accuracy",
                   "seconds"], caption="Training",
                  note=(f"The domain classifier's goal is chance ({100 / len(doms):.0f} %): codes that do not tell "
                        "the domains apart." if doms else ""))
        for name, r in train.items():
            r = r or {}
            acc = r.get("val_domain_accuracy")
            t.rows.append(Row([Cell(name), _num_cell(r.get("steps_taken"), 0), _num_cell(r.get("train_loss")),
                               _num_cell(r.get("val_loss")), Cell(f"{acc:.1f} %" if _is_num(acc) else "–", num=True),
                               _num_cell(r.get("seconds"), 0)]))
        top.tables.append(t)
    if res.get("reconstruction"):
        top.tables.append(_reconstruction_table(res["reconstruction"], "Reconstruction of held-out melodies"))
    if res.get("pitch_test"):
        t = Table(["", "notes", "lost pitch"], caption="Pitch test")
        for name, r in res["pitch_test"].items():
            r = r or {}
            t.rows.append(Row([Cell(name), _num_cell(r.get("n_notes"), 0), _share_cell(r.get("lost_share"))]))
        top.tables.append(t)
    top.figures += folder.figures(("training.png", "training curves"), ("pitch_test.png", "pitch test"))
    sections.append(top)

    outs = Section("Each domain's melody through the models", id="outputs")
    kinds = [("input", "source"), ("source", "source"), ("autoencoder", "WaveNet autoencoder (reconstruction)"),
             ("translator", "translator, own decoder (reconstruction)"), ("translation", "translated")]
    for d in doms:
        others = [o for o in doms if o != d]
        dn = _norm(d)
        audio = []
        for prefix, what in kinds:
            what = f"{what} to {', '.join(others)}" if prefix == "translation" else what
            audio += folder.take_audio_where(lambda rel, p=prefix: _norm(Path(rel).stem) == f"{p}-{dn}",
                                             lambda rel, w=what: f"{w}: {Path(rel).name}")
        audio += folder.take_audio_where(lambda rel: _norm(Path(rel).stem).endswith(f"-{dn}")
                                         and not _norm(Path(rel).stem).startswith("morph"))
        figs = folder.take_figures_where(lambda rel: _norm(Path(rel).stem) in (f"spectrograms-{dn}",
                                                                                 f"spectrogram-{dn}"),
                                         lambda rel: "spectrograms: input, reconstructions, translation")
        figs += folder.take_figures_where(lambda rel: _norm(Path(rel).parent.name).startswith(f"pitch-{dn}-to-"),
                                          lambda rel: f"pitch test: {Path(rel).parent.name[6:].replace('-to-', ' → ')}")
        outs.entries.append(Entry(d, audio=audio, figures=figs, empty="no sound of this domain in the folder"))
    if outs.entries:
        sections.append(outs)

    def alpha(rel):
        m = re.search(r"morph[-_]([0-9.]+)$", Path(rel).stem)
        try:
            return float(m.group(1).rstrip(".")) if m else math.inf
        except ValueError:
            return math.inf

    morph_rels = sorted((rel for rel in folder.audio if _norm(Path(rel).stem).startswith("morph")), key=alpha)
    morph = Section("Morphs", id="morphs",
                    paragraphs=["The WaveNet autoencoder decodes (1 − α) E(a) + α E(b), a note of each domain."])
    morph.audio = [a for rel in morph_rels if (a := folder.take_audio(
        rel, f"α = {alpha(rel):g}" if alpha(rel) != math.inf else rel))]
    morph.figures += folder.figures(("morph.png", "spectrograms of the morphs"))
    if morph.audio or morph.figures:
        sections.append(morph)
    models = _models_section(folder, "models")
    if models:
        sections.append(models)
    return sections


def _render_inversion(folder: _Folder) -> list[Section]:
    res = folder.json("inversion.json")
    if not isinstance(res, dict):
        return []
    note, cfg, results = res.get("note") or {}, res.get("config") or {}, res.get("results") or {}
    s = Section("Target, iterations, result", id="inversion")
    s.facts = _facts(("note", f"gm8 {note.get('instrument')}, MIDI {note.get('pitch')}, "
                              f"velocity {note.get('velocity')}" if note.get("instrument") else None),
                     ("samples", f"{note['n']} at {note.get('sr')} Hz" if note.get("n") else None),
                     ("J, Q", f"{cfg.get('J')}, {cfg.get('Q')}" if cfg.get("J") else None),
                     ("steps", cfg.get("steps")), ("seed", cfg.get("seed")))
    t = Table(["transform", "paths", "coefficients", "coefficient error", "spectral convergence", "steps/s",
               "error per iteration"],
              note="Relative error of the reconstruction's coefficients (start → end), and the spectral convergence "
                   "of its STFT magnitudes against the target's (from the starting noise → end; lower is better).")
    for name, r in results.items():
        r = r or {}
        t.rows.append(Row([Cell(name), _num_cell(r.get("paths"), 0), _num_cell(r.get("coefficients"), 0),
                           Cell(f"{_pct(r.get('error_start'), 1)} → {_pct(r.get('error'), 2)}", num=True),
                           Cell(f"{_f(r.get('spectral_convergence_start'))} → {_f(r.get('spectral_convergence'))}",
                                num=True),
                           _num_cell(r.get("steps_per_s"), 1), Cell(html=_sparkline(r.get("error_curve") or []))]))
    s.tables.append(t)
    target = folder.take_audio_where(lambda rel: _norm(Path(rel).stem).startswith("original"),
                                     lambda rel: f"target: {rel}")
    if target:
        s.entries.append(Entry("target", audio=target))
    for name in results:
        n = _norm(name)
        audio = folder.take_audio_where(lambda rel: _norm(Path(rel).stem) == f"reconstruction-{n}")
        r = results.get(name) or {}
        s.entries.append(Entry(f"result: {name}", audio=audio,
                               text=f"coefficient error {_pct(r.get('error'), 2)}, spectral convergence "
                                    f"{_f(r.get('spectral_convergence'))}", empty="no reconstruction saved"))
    s.audio += folder.take_audio_where(lambda rel: _norm(Path(rel).stem).startswith("reconstruction"))
    s.figures += folder.figures(("inversion.png", "error curves, waveforms and spectrograms"))
    return [s]


def _render_style(folder: _Folder) -> list[Section]:
    res = folder.json("style.json")
    if not isinstance(res, dict):
        return []
    content, style, cfg, results = (res.get(k) or {} for k in ("content", "style", "config", "results"))
    s = Section("Content, style, result", id="style")
    s.facts = _facts(("content", f"{content.get('instrument')}, MIDI {content.get('keys')}" if content else None),
                     ("style", f"{style.get('instrument')}, MIDI {style.get('keys')}" if style else None),
                     ("sample rate", _hz(cfg.get("sr"))), ("steps", cfg.get("steps")), ("J", cfg.get("J")))
    t = Table(["representation", "loss", "style loss", "content loss", "timbre to style", "content change",
               "steps/s", "loss per iteration"],
              note="Timbre to style: distance of the result's MFCC timbre to the style's, relative to the content's "
                   "(1 = unchanged, 0 = the style's); content change: relative change of the log-mel spectrogram.")
    for name, r in results.items():
        r = r or {}
        t.rows.append(Row([Cell(name), Cell(f"{_f(r.get('loss_start'))} → {_f(r.get('loss'))}", num=True),
                           Cell(f"{_f(r.get('style_loss_start'))} → {_f(r.get('style_loss'))}", num=True),
                           _num_cell(r.get("content_loss")), _num_cell(r.get("timbre_to_style"), 2),
                           _num_cell(r.get("content_change"), 2), _num_cell(r.get("steps_per_s"), 1),
                           Cell(html=_sparkline(r.get("loss_curve") or []))]))
    s.tables.append(t)
    for what in ("content", "style"):
        audio = folder.take_audio_where(lambda rel, w=what: _norm(Path(rel).stem) == w)
        if audio:
            s.entries.append(Entry(what, audio=audio))
    for name in results:
        n = _norm(name)
        r = results.get(name) or {}
        audio = folder.take_audio_where(lambda rel: _norm(Path(rel).stem) == f"result-{n}")
        s.entries.append(Entry(f"result: {name}", audio=audio, empty="no result saved",
                               text=f"timbre to style {_f(r.get('timbre_to_style'), 2)}"))
    s.audio += folder.take_audio_where(lambda rel: _norm(Path(rel).stem).startswith("result"))
    s.figures += folder.figures(("style_transfer.png", "spectrograms and loss curves"))
    return [s]


def _render_training(folder: _Folder) -> list[Section]:
    e, row = _training_entry(folder, "", "")
    row[0] = Cell(title_of(folder.kind) if folder.kind else "this model")
    desc = {}
    for name in ("autoencoder.json", "wavenet.json"):
        d = folder.json(name)
        if isinstance(d, dict):
            desc = d
    s = Section("Training", id="training", tables=[Table(_TRAINING_COLUMNS, [Row(row)])], figures=e.figures,
                audio=e.audio)
    if isinstance(desc.get("config"), dict):
        s.facts = _scalars(desc["config"], depth=1)
    if desc.get("domains"):
        s.facts.insert(0, ("domains", ", ".join(map(str, desc["domains"]))))
    return [s]


def _render_demo(folder: _Folder) -> list[Section]:
    summary = folder.json("summary.json")
    s = Section("The note and its features", id="note")
    if isinstance(summary, dict):
        s.facts = _scalars(summary)
    s.figures += folder.figures(("features.png", "waveform, MFCC and scattering"))
    return [s]


def _render_pitch_test(folder: _Folder) -> list[Section]:
    r = folder.json("pitch_test.json")
    if not isinstance(r, dict):
        return []
    s = Section("Pitch test", id="pitch", tables=_pitch_test_tables({"this method": r}))
    s.figures += folder.figures(("pitch_test.png", "pitch test"))
    return [s]


_RENDERERS: dict[str, Callable[[_Folder], list]] = {
    "recognition": _render_recognition,
    "experiment-timbre": _render_timbre,
    "experiment-translation": _render_translation,
    "experiment-inversion": _render_inversion,
    "inversion": _render_inversion,
    "experiment-style": _render_style,
    "style-transfer": _render_style,
    "autoencoder": _render_training,
    "wavenet-autoencoder": _render_training,
    "wavenet-translator": _render_training,
    "training": _render_training,
    "demo-note": _render_demo,
    "pitch-test": _render_pitch_test,
}


def _render_numbers(folder: _Folder) -> list[Section]:
    """Kinds without their own renderer: the scalar numbers of their top-level JSON files."""
    s = Section("Numbers", id="numbers")
    for rel in folder.texts:
        if rel.endswith(".json"):
            d = folder.json(rel)
            pairs = _scalars(d) if isinstance(d, dict) else []
            if pairs:
                s.tables.append(Table(["", ""], [Row([Cell(k), Cell(v, num=_is_num_text(v))]) for k, v in pairs],
                                      caption=rel))
    return [s] if s.tables else []


def _is_num_text(v: str) -> bool:
    return bool(re.fullmatch(r"[-+]?[0-9][0-9,]*(\.[0-9]+)?(e[-+]?[0-9]+)?", v))


# ------------------------------------------------------------------------------------ the generic part
def _generic_sections(folder: _Folder) -> list[Section]:
    """What the kind's sections did not show: figures and sounds grouped by subfolder."""
    groups: dict[str, Section] = {}
    warnings = []
    title = "More figures and sounds" if folder.shown else "Figures and sounds"
    for files, take, attr, what in ((folder.images, folder.take_figure, "figures", "figures"),
                                    (folder.audio, folder.take_audio, "audio", "sounds")):
        left = [rel for rel in files if rel not in folder.shown]
        if len(left) > _MAX_SHOWN:
            warnings.append(f"{len(left) - _MAX_SHOWN} more {what} are in the folder and not shown here")
        for rel in left[:_MAX_SHOWN]:
            d = Path(rel).parent.as_posix()
            group = groups.setdefault(d, Section(f"{d}/" if d != "." else "this folder", level=3))
            getattr(group, attr).append(take(rel, Path(rel).name))
    if not groups:
        return []
    order = sorted(groups, key=lambda d: (d != ".", _natural(d)))
    for i, d in enumerate(order):
        groups[d].id = f"more-{i}"
    return [Section(title, id="more", warnings=warnings, children=[groups[d] for d in order])]


# ------------------------------------------------------------------------------------ rendering
_ENV = None


def _environment():
    global _ENV
    if _ENV is None:
        import jinja2

        _ENV = jinja2.Environment(loader=jinja2.PackageLoader("jaxmusic", "templates"), autoescape=True,
                                  undefined=jinja2.StrictUndefined, trim_blocks=False, lstrip_blocks=False,
                                  keep_trailing_newline=True)
    return _ENV


def _page(*, title: str, subtitle: str, facts, warnings, sections, pages=(), files=(), has_media=True) -> str:
    from . import __version__

    return _environment().get_template("report.html.j2").render(
        title=title, subtitle=subtitle, facts=list(facts), warnings=list(warnings),
        sections=[s for s in sections if not s.empty()], pages=list(pages), files=list(files), has_media=has_media,
        version=__version__, written=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def title_of(kind: str) -> str:
    """The page title of a run ``kind``."""
    return KIND_TITLES.get(kind) or kind.removeprefix("experiment-").replace("-", " ").capitalize()


def render_report(folder, kind: str, marker: dict | None = None) -> str:
    """The HTML of the page of run folder ``folder`` (a run of ``kind``), as a string.

    Parameters
    ----------
    folder : path-like
        The run folder; links in the page are relative to it.
    kind : str
        The run's kind (its marker's ``kind``): picks the title and the kind's own sections.
    marker : dict, optional
        The folder's marker, for the date the run was started.

    Returns
    -------
    str
        A complete HTML5 document.
    """
    root = Path(folder)
    f = _Folder(root, kind=kind)
    sections, warnings = [], []
    render = _RENDERERS.get(kind, _render_numbers)
    before = set(f.shown)
    try:
        sections = [s for s in render(f) if s is not None]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError) as err:
        # the run's JSON is not what this version of jaxmusic wrote: its figures and sounds still show
        f.shown = before
        sections = []
        warnings.append(f"The {kind} tables could not be read from the run's JSON ({type(err).__name__}: {err}); "
                        "its figures and sounds are below.")
    warnings = f.warnings + warnings
    sections += _generic_sections(f)
    marker = marker or {}
    facts = [("kind", kind), ("folder", root.resolve().name or str(root))]
    if marker.get("created"):
        facts.append(("started", str(marker["created"]).replace("T", " ")))
    if marker.get("jaxmusic"):
        facts.append(("jaxmusic", str(marker["jaxmusic"])))
    n_aud, n_fig = len(f.audio), len(f.images)
    facts.append(("contents", f"{n_fig} figure{'s' * (n_fig != 1)}, {n_aud} sound{'s' * (n_aud != 1)}"))
    files = [Link(_url(rel), rel, _human_size(p.stat().st_size)) for rel, p in f.texts.items()]
    pages = [Link(_url(rel), str(Path(rel).parent.as_posix()) + "/") for rel in f.pages]
    return _page(title=title_of(kind), subtitle="", facts=facts, warnings=warnings, sections=sections,
                 pages=pages, files=files, has_media=bool(n_aud or n_fig))


def _run_dir(folder, *, force: bool) -> tuple[RunDir, dict]:
    if isinstance(folder, RunDir):
        return folder, read_marker(folder.path) or {}
    path = Path(folder).expanduser()
    if not path.exists():
        raise ParameterError(f"{path} does not exist: jaxmusic report takes a run folder jaxmusic wrote")
    if not path.is_dir():
        raise ParameterError(f"{path} is not a folder: jaxmusic report takes a run folder jaxmusic wrote "
                             "(for a single output OUT.wav, write_output_report writes OUT.html)")
    marker = read_marker(path, force=force)
    kind = marker.get("kind") if marker is not None else None
    if not isinstance(kind, str) or not kind:
        if not force:
            said = f"it has no {MARKER}" if marker is None else f"its {MARKER} names no kind of run"
            raise OutputError(f"{path} was not written by jaxmusic ({said}): jaxmusic writes {PAGE} only into its "
                              "own run folders; choose a run folder, or pass --force on the command line "
                              "(force=True in Python) to write the page there anyway")
        run = claim_dir(path, "report", force=True)
        return run, read_marker(path) or {}
    return as_run_dir(path, kind, force=force), marker


def write_report(folder, *, force: bool = False) -> Path:
    """Write the listening page ``index.html`` of a run folder and return its path.

    The page shows the run's own tables (by its kind: see this module's docstring),
    every figure as a thumbnail linking to the full-size file and every sound with a
    player, its length and its sample rate, grouped by subfolder. A run without
    sounds or figures still gets a page. Run it again to refresh the page.

    Parameters
    ----------
    folder : path-like or RunDir
        A folder jaxmusic wrote (it holds ``.jaxmusic.json``), or the `RunDir` of a
        run that is writing it.
    force : bool
        Write the page into a folder that jaxmusic did not write (it is then marked as
        a jaxmusic folder holding ``index.html`` and nothing else of jaxmusic's), or
        over an ``index.html`` someone else put there.

    Returns
    -------
    Path
        ``folder/index.html``.

    Raises
    ------
    OutputError
        ``folder`` has no jaxmusic marker, or holds an ``index.html`` jaxmusic did not
        write (without ``force``).
    ParameterError
        ``folder`` does not exist or is not a folder.
    """
    if isinstance(folder, RunDir) and not folder._writer:  # another process of a multi-process run:
        return folder.path / PAGE                           # process 0 writes the page
    run, marker = _run_dir(folder, force=force)
    html = render_report(run.path, run.kind, marker)
    page = run / PAGE  # recorded as jaxmusic's; refuses an index.html someone else put there
    return write_text(page, html)


def write_output_report(audio_path, figure_path=None, *, title: str, inputs: Iterable = (),
                        overwrite: bool = False) -> Path:
    """Write ``OUT.html`` beside a single output ``OUT.wav`` (and its figure) and return its path.

    For commands that write one file and its figure rather than a folder
    (``jaxmusic hybridize``, ``jaxmusic translate``): a player with the sound's length
    and sample rate, the figure (a thumbnail linking to the full-size file) and the
    names of the inputs. Links are relative to the page's folder.

    Parameters
    ----------
    audio_path : path-like
        The output sound, ``OUT.wav`` (any format soundfile reads).
    figure_path : path-like, optional
        Its figure, e.g. ``OUT.png``; it must lie in the sound's folder or below it.
    title : str
        The page's title, e.g. ``"jaxmusic hybridize --method envelope"``.
    inputs : iterable of str or path-like
        The sounds it was made from: listed by name on the page, and never overwritten
        by it.
    overwrite : bool
        Replace an existing ``OUT.html`` (``--force``).

    Returns
    -------
    Path
        ``OUT.html``.

    Raises
    ------
    OutputError
        ``OUT.html`` exists (without ``overwrite``), is a folder or is an input.
    ParameterError
        The sound does not exist, or the figure lies outside the sound's folder.
    """
    audio = Path(audio_path).expanduser()
    if not audio.is_file():
        raise ParameterError(f"the output sound {audio} does not exist; write it before its page")
    inputs = [i for i in inputs if i is not None]
    page = check_output_file(audio.with_suffix(".html"), inputs=[i for i in inputs if _looks_like_path(i)],
                             overwrite=overwrite, what="the listening page")
    base = page.parent
    f = _Folder(base, scan=False)  # only the files named here
    sound = f.audio_item(audio.name, audio.name)
    section = Section("Output", id="output", audio=[sound])
    if figure_path is not None:
        fig = Path(figure_path).expanduser()
        try:
            rel = fig.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            raise ParameterError(f"the figure {fig} lies outside the folder of {audio.name} ({base}): the page links "
                                 "to it relatively, so put it beside the sound") from None
        if not fig.is_file():
            raise ParameterError(f"the figure {fig} does not exist")
        section.figures.append(f.figure_item(rel, fig.name))
    facts = [("sound", sound.info)]
    names = [_input_name(i) for i in inputs]
    if names:
        facts.append(("made from", ", ".join(names)))
    html = _page(title=title, subtitle=audio.name, facts=facts, warnings=[], sections=[section])
    page.parent.mkdir(parents=True, exist_ok=True)
    return write_text(page, html)


def _looks_like_path(i) -> bool:
    return isinstance(i, os.PathLike) or (isinstance(i, str) and ":" not in i.split("/")[0])


def _input_name(i) -> str:
    """An input as the page names it: a file by its name only (never its absolute path)."""
    if isinstance(i, os.PathLike) or (isinstance(i, str) and _looks_like_path(i)):
        return Path(i).name or str(i)
    return str(i)
