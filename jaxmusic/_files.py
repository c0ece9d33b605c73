"""The one place that writes to the user's disk: folders jaxmusic owns, atomic writes,
and outputs that never destroy what jaxmusic did not write.

Rules every writer follows (each is tested per writer):

- A folder jaxmusic creates carries a marker, ``.jaxmusic.json``: the kind of run
  that wrote it (``"recognition"``, ``"autoencoder"``, ``"dataset"``, ...), the
  format version, and every top-level name jaxmusic wrote inside it.
- jaxmusic resumes into, writes into, replaces or deletes inside a folder only if
  the marker is there and names the same kind. An existing folder without a
  marker is refused (`OutputError`, naming the path and the way out); an empty
  one is taken. ``force=True`` (``--force`` on the command line) writes into a
  foreign folder anyway: jaxmusic then replaces only the names it writes and
  still deletes nothing it did not write.
- Inside its own folders jaxmusic deletes or replaces only the names its marker
  lists: a file someone else put there survives.
- An output file equal to an input (after resolving links) is refused; an
  existing output file is refused unless ``overwrite=True`` (``--force``).
- Every write is atomic: a temporary name in the destination folder, then a
  rename, so a reader never sees a half-written file and an interrupted write
  leaves the previous file in place.

`claim_dir` returns a `RunDir`: ``run / "results.md"`` records the name in the
marker (refusing it if a file of that name exists that jaxmusic did not write)
and gives the path to write to.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ._checks import ParameterError

__all__ = [
    "OutputError",
    "OutputWarning",
    "Interrupted",
    "MARKER",
    "RunDir",
    "Legacy",
    "claim_dir",
    "as_run_dir",
    "read_marker",
    "check_output_file",
    "check_not_input",
    "atomic_path",
    "write_json",
    "write_text",
    "read_json",
    "save_npz",
    "save_npy",
]

#: The marker file of a folder jaxmusic owns.
MARKER = ".jaxmusic.json"
_MARKER_FORMAT = "jaxmusic.folder"
_MARKER_VERSION = 1
_FORCE_HINT = "pass --force on the command line (force=True in Python)"


class OutputError(ParameterError):
    """An output that would overwrite or delete what jaxmusic did not write, or an input
    (a `ParameterError`: the path argument is what needs changing)."""


class OutputWarning(UserWarning):
    """Files jaxmusic did not write were kept where it would have deleted its own."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during a run that writes: the message says what was kept and how
    to resume (``rerun the same command``, or call the function again). A
    `KeyboardInterrupt`, so code that catches that still does; the command line
    prints the message and exits with status 130."""


# ---------------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(path, *, mode: int | None = None):
    """Yield a temporary path beside ``path`` (same extension); on success rename it to
    ``path`` in one step, on failure remove it. The folder must exist.

    Used for every file jaxmusic writes: a reader sees the old file or the new one,
    never half of either."""
    path = Path(path)
    guard(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part" + path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _default_mode() if mode is None else mode)
        _pending(path, tmp)  # a kill between the rename and the record must not disown the file
        os.replace(tmp, path)
        _written(path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


_PARTIAL = re.compile(r"\.(.+)\.[^.]+\.part(\.[^.]*)?")


def _partial_of(entry: str) -> str | None:
    """The name whose atomic write left ``entry`` behind (`atomic_path`'s temporary
    name), or None."""
    m = _PARTIAL.fullmatch(entry)
    return m.group(1) if m else None


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def write_json(path, obj, *, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (a temporary file, then a rename),
    creating the folder: a reader never sees a half-written file."""
    return write_text(path, json.dumps(obj, indent=indent))


_RAISE = object()


def read_json(path, *, default=_RAISE, what: str = "this run"):
    """The JSON in ``path``; an unreadable file is a `ParameterError` naming it, or with
    ``default`` given, a warning saying it is computed again and ``default``."""
    import warnings

    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        if default is _RAISE:
            raise ParameterError(f"{path} is unreadable ({type(err).__name__}: {err}): jaxmusic cannot tell what "
                                 f"{what} holds; move it away (or choose another folder) and run again") from err
        warnings.warn(f"{path} is unreadable ({type(err).__name__}: {err}): computed again", stacklevel=2)
        return default


def save_npz(path, /, **arrays) -> Path:
    """`numpy.savez` to ``path``, atomically; no pickle."""
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def save_npy(path, array) -> Path:
    """`numpy.save` to ``path``, atomically; no pickle."""
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
    return path


# ---------------------------------------------------------------------------------- output files
def _resolved(p) -> Path:
    return Path(p).expanduser().resolve(strict=False)


def check_not_input(path, inputs: Iterable = (), *, what: str = "the output") -> Path:
    """Refuse ``path`` when it is one of ``inputs`` (files or folders, links resolved),
    lies inside an input folder, or contains one. Returns ``path`` (user-expanded)."""
    path = Path(path).expanduser()
    target = _resolved(path)
    for inp in inputs:
        if inp is None:
            continue
        src = _resolved(inp)
        if target == src:
            raise OutputError(f"{what} {path} is the input {inp}: jaxmusic never writes over its input; "
                              "choose another name")
        if Path(inp).expanduser().is_dir() and src in target.parents:
            raise OutputError(f"{what} {path} lies inside the input folder {inp}: write it elsewhere")
        if src != target and target in src.parents:
            raise OutputError(f"{what} {path} contains the input {inp}: write it elsewhere")
    return path


def check_output_file(path, *, inputs: Iterable = (), overwrite: bool = False, what: str = "the output") -> Path:
    """Check that ``path`` may be written: not an input, not a folder, and absent unless
    ``overwrite``. Its folder is created by the caller. Returns the path."""
    path = check_not_input(path, inputs, what=what)
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; name a file")
    if os.path.lexists(path) and not overwrite:
        raise OutputError(f"{what} {path} exists; {_FORCE_HINT.replace('force=True', 'overwrite=True')} "
                          "to replace it, or choose another name")
    return path


# ---------------------------------------------------------------------------------- owned folders
def _stamps(stamp) -> list[list[int]]:
    """The ``[size, mtime_ns]`` pairs a marker accepts for a file: one, or while a write is
    in flight (`RunDir.pending`) the old and the new."""
    return [list(x) for x in (stamp if isinstance(stamp[0], list) else [stamp])]


def read_marker(path, *, force: bool = False) -> dict | None:
    """The marker of folder ``path`` (a dict), or None when it has none.

    Raises `OutputError` for a marker that exists but cannot be read, unless ``force``:
    then such a marker reads as none."""
    f = Path(path) / MARKER
    if not f.is_file():
        return None
    try:
        marker = json.loads(f.read_text())
    except (OSError, ValueError) as err:
        if force:
            return None
        raise OutputError(f"{f} is unreadable ({err}): jaxmusic cannot tell what it wrote in {path}; "
                          f"choose another folder, or {_FORCE_HINT}") from err
    if not isinstance(marker, dict) or marker.get("format") != _MARKER_FORMAT:
        if force:
            return None
        raise OutputError(f"{f} is not a jaxmusic folder marker; choose another folder, or {_FORCE_HINT}")
    return marker


class Legacy:
    """How a folder written by jaxmusic before markers existed is recognised: it holds
    ``signature`` (a file, checked by ``check`` when given) and nothing but ``names``
    and entries matching ``patterns``. Such a folder is adopted: its marker is written
    listing those entries."""

    def __init__(self, signature: str, names: Sequence[str] = (), patterns: Sequence[str] = (),
                 check: Callable[[Path], bool] | None = None):
        self.signature = signature
        self.names = set(names) | {signature}
        self.patterns = [re.compile(p) for p in patterns]
        self.check = check

    def matches(self, folder: Path, entries: Sequence[str]) -> bool:
        if not (folder / self.signature).exists():
            return False
        if any(e not in self.names and not any(p.fullmatch(e) for p in self.patterns) for e in entries):
            return False
        if self.check is not None:
            try:
                return bool(self.check(folder))
            except Exception:
                return False
        return True


#: The folders this process claimed (resolved path -> RunDir): every file written through
#: jaxmusic's writers below one of them is checked and recorded by `guard`.
_ACTIVE: dict = {}


def _owner(path: Path):
    """The nearest claimed folder above ``path`` in this process, and the path relative to it."""
    try:
        resolved = Path(path).expanduser().resolve(strict=False)
    except OSError:
        return None
    for folder in resolved.parents:
        run = _ACTIVE.get(str(folder))
        if run is not None:
            return run, resolved.relative_to(folder)
    return None


def _recorded(path):
    """``(run, rel)`` when ``path`` is a file whose writes the marker of a claimed folder
    records (not the marker itself, nor a temporary ``.part`` file), else None."""
    found = _owner(Path(path))
    if found is not None and not any(part == MARKER or _partial_of(part) is not None for part in found[1].parts):
        return found
    return None


def _written(path) -> None:
    """After a write through jaxmusic's writers: note the file's size and time in its folder's marker."""
    if (found := _recorded(path)) is not None:
        found[0].written(found[1])


def _pending(path, tmp) -> None:
    """Before ``tmp`` is renamed over ``path``: let the marker accept ``tmp``'s size and time
    (a rename keeps them) beside the old file's, so that a process killed between the rename
    and `_written` leaves a file its folder still knows as jaxmusic's."""
    if (found := _recorded(path)) is not None:
        found[0].pending(found[1], os.stat(tmp))


def guard(path) -> None:
    """Check and record a file about to be written at ``path``: inside a folder jaxmusic
    claimed, a file that exists and that jaxmusic did not write is refused (`OutputError`),
    at any depth; the name is recorded in the folder's marker. Outside such folders the
    writer's own rule applies (`check_output_file`, ``overwrite=``)."""
    if (found := _recorded(path)) is not None:
        found[0].record(found[1])


class RunDir(os.PathLike):
    """A folder jaxmusic owns (see `claim_dir`).

    ``run / name`` records ``name`` (its first component) as written by jaxmusic and
    returns the plain `pathlib.Path`; it refuses a name that exists and that jaxmusic
    did not write (unless the folder was claimed with ``force``). `remove` deletes
    only recorded names. ``os.fspath(run)`` and ``run.path`` give the folder."""

    def __init__(self, path: Path, kind: str, marker: dict, *, forced: bool = False, writer: bool = True):
        self.path = path
        self.kind = kind
        self._marker = marker
        self._names = set(marker.get("names", []))
        # every file jaxmusic wrote (posix path -> [size, mtime_ns] after the write, None when unknown):
        # a file whose size or time changed since was replaced by someone else, and is theirs
        files = marker.get("files", {})
        self._files: dict = dict(files) if isinstance(files, dict) else {f: None for f in files}
        self._adopted = bool(marker.get("adopted"))  # written before markers: its subfolders' files are its own
        self._dropped: set = set()  # files deleted by this object (not merged back from the disk's marker)
        self.forced = forced
        self._writer = writer
        self.created = False  #: True when `claim_dir` made the folder

    # path-like behaviour -------------------------------------------------------------
    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r}, kind={self.kind!r})"

    @property
    def name(self) -> str:
        return self.path.name

    def __truediv__(self, name) -> Path:
        return self.file(name)

    def joinpath(self, name) -> Path:
        return self.file(name)

    def exists(self) -> bool:
        return self.path.exists()

    def is_dir(self) -> bool:
        return self.path.is_dir()

    def mkdir(self, *args, **kwargs) -> None:
        """The folder exists (claiming created it): nothing to do."""

    # names ---------------------------------------------------------------------------
    @property
    def names(self) -> frozenset:
        """The top-level names jaxmusic wrote here."""
        return frozenset(self._names)

    def owns(self, name) -> bool:
        return Path(name).parts[0] in self._names

    def file(self, name) -> Path:
        """The path of ``name`` inside the folder, recorded in the marker as jaxmusic's.

        Raises `OutputError` when ``name`` exists, was not written by jaxmusic, and the
        folder was not claimed with ``force``."""
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise OutputError(f"{name!r} is not a name inside {self.path}")
        if not self._writer:  # another process of a multi-process run: process 0 checks and records
            return self.path / rel
        top = rel.parts[0]
        if top == MARKER:
            raise OutputError(f"{MARKER} is jaxmusic's marker; it cannot be written as an output")
        if top not in self._names:
            if os.path.lexists(self.path / top) and not self.forced:
                raise OutputError(
                    f"{self.path / top} exists and jaxmusic did not write it ({self.path} is a jaxmusic "
                    f"{self.kind} folder, but this entry was put there by someone else): move it away, "
                    f"or {_FORCE_HINT} to replace it")
            self._names.add(top)
            self._save_marker()
        return self.path / rel

    def record(self, rel) -> Path:
        """Record the file ``rel`` (a path inside the folder, at any depth) as jaxmusic's
        before it is written; refuse it when it exists and jaxmusic did not write it
        (never recorded, or changed since jaxmusic wrote it). `written` notes its size and
        time once written."""
        rel = Path(rel)
        target = self.file(rel)
        if not self._writer:
            return target
        key = rel.as_posix()
        if os.path.lexists(target) and not target.is_dir() and not (self.forced or self._adopted):
            nested_unknown = len(rel.parts) > 1 and key not in self._files
            if nested_unknown or not self._unchanged(key, target):
                why = "was put there by someone else" if key not in self._files else "was changed since jaxmusic wrote it"
                raise OutputError(
                    f"{target} exists and jaxmusic did not write it ({self.path} is a jaxmusic {self.kind} folder, "
                    f"but this file {why}): move it away, or {_FORCE_HINT} to replace it")
        if key not in self._files:
            self._files[key] = None
            self._dropped.discard(key)
            self._save_marker()
        return target

    def written(self, rel) -> None:
        """Note the size and time of the file ``rel`` that jaxmusic just wrote."""
        key = Path(rel).as_posix()
        try:
            st = os.stat(self.path / key)
        except OSError:
            return
        self._files[key] = [st.st_size, st.st_mtime_ns]
        self._dropped.discard(key)
        self._save_marker()

    def pending(self, rel, st: os.stat_result) -> None:
        """A write of ``rel`` is about to land with the size and time of ``st``: until
        `written` confirms it, the marker accepts the old stamp or the new one."""
        key = Path(rel).as_posix()
        old = self._files.get(key)
        if old is None or not self._writer:  # the name alone is the record: any content is accepted
            return
        stamps = _stamps(old)
        new = [st.st_size, st.st_mtime_ns]
        if new not in stamps:
            self._files[key] = stamps + [new]
            self._save_marker()

    def _unchanged(self, key: str, target: Path) -> bool:
        stamp = self._files.get(key)
        if stamp is None:  # written before sizes were noted, or by a library (Orbax): the name is the record
            return True
        try:
            st = os.stat(target)
        except OSError:
            return True
        return [st.st_size, st.st_mtime_ns] in _stamps(stamp)

    def _owned(self, rel: str) -> bool:
        return self._adopted or (rel in self._files and self._unchanged(rel, self.path / rel))

    def _split_tree(self, name) -> tuple[list[Path], list[Path]]:
        """The files below the folder ``name``: (jaxmusic's, someone else's); temporary files
        of jaxmusic's interrupted writes count as its own."""
        own, other = [], []
        for p in sorted((self.path / name).rglob("*")):
            if p.is_dir() and not p.is_symlink():
                continue
            rel = p.relative_to(self.path).as_posix()
            (own if self._owned(rel) or any(_partial_of(c) is not None for c in Path(rel).parts[1:])
             else other).append(p)
        return own, other
    def replace(self, name, write: Callable[[Path], object]) -> Path:
        """Replace the entry ``name`` (a file or a folder) by what ``write(tmp)`` writes at
        the path ``tmp`` (which does not exist yet): the old entry is swapped out only
        once the new one is complete, so an interruption leaves one or the other whole."""
        target = self.file(name)
        if target.is_dir() and not target.is_symlink():
            other = self._split_tree(name)[1]
            if other and not self.forced:
                raise OutputError(f"{target} holds files jaxmusic did not write ({_describe([str(p.relative_to(target)) for p in other])}): "
                                  "it is not replaced; move them away")
        token = next(tempfile._get_candidate_names())
        tmp = self.path / f".{name}.{token}.part"
        old = self.path / f".{name}.{token}.part.old"
        try:
            write(tmp)
            written = {f"{name}/{p.relative_to(tmp).as_posix()}": [p.stat().st_size, p.stat().st_mtime_ns]
                       for p in tmp.rglob("*") if p.is_file()} if tmp.is_dir() else {}
            stale = {f for f in self._files if f.startswith(f"{name}/")}
            for f in stale:
                del self._files[f]
            self._dropped |= stale - set(written)
            self._files.update(written)  # a rename keeps sizes and times
            self._save_marker()
            if os.path.lexists(target):
                os.replace(target, old)
            os.replace(tmp, target)
        finally:
            for leftover in (tmp, old):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                elif os.path.lexists(leftover):
                    leftover.unlink()
        return target

    def remove(self, name, *, strict: bool = True) -> list[Path]:
        """Delete ``name`` (a file, or a folder's files) if it exists: only what jaxmusic wrote.

        A folder loses the files jaxmusic wrote in it (recorded in the marker), then the
        folders left empty. Files someone else put there are never deleted: with
        ``strict`` (default) their presence is an `OutputError` before anything is
        deleted; otherwise they stay, with their folders, named in a warning.
        Returns the files kept."""
        import warnings

        top = Path(name).parts[0]
        target = self.path / name
        if not os.path.lexists(target):
            return []
        if top not in self._names:
            raise OutputError(f"{target} was not written by jaxmusic: it is never deleted; move it away "
                              "if it should go")
        if not target.is_dir() or target.is_symlink():
            if not target.is_symlink() and not self._owned(Path(name).as_posix()) and Path(name).as_posix() in self._files:
                raise OutputError(f"{target} was changed since jaxmusic wrote it: it is not deleted; move it away")
            target.unlink()
            self._files.pop(Path(name).as_posix(), None)
            self._dropped.add(Path(name).as_posix())
            self._save_marker()
            return []
        own, other = self._split_tree(name)
        if other and strict:
            raise OutputError(f"{target} holds files jaxmusic did not write "
                              f"({_describe([str(p.relative_to(target)) for p in other])}): jaxmusic would have "
                              "replaced this folder; move them away and run again")
        for p in own:
            p.unlink()
        for d in sorted((p for p in target.rglob("*") if p.is_dir() and not p.is_symlink()), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()
        if not any(target.iterdir()):
            target.rmdir()
        gone = {p.relative_to(self.path).as_posix() for p in own}
        for f in gone:
            self._files.pop(f, None)
        self._dropped |= gone
        self._save_marker()
        if other:
            warnings.warn(f"kept {_describe([str(p.relative_to(self.path)) for p in other])} in {target}: "
                          "jaxmusic did not write them, so they were not deleted", OutputWarning, stacklevel=2)
        return other

    def discard_if_unused(self) -> bool:
        """Remove the folder when `claim_dir` made it and nothing but the marker is in it
        (a run that failed before writing anything leaves no trace). Returns whether it did."""
        if not (self.created and self._writer) or not self.path.is_dir():
            return False
        if [e for e in os.listdir(self.path) if e != MARKER]:
            return False
        os.unlink(self.path / MARKER)
        os.rmdir(self.path)
        return True

    def foreign(self) -> list[str]:
        """Entries of the folder that jaxmusic did not write (the marker and the temporary
        files of interrupted writes aside)."""
        return sorted(e for e in os.listdir(self.path) if e != MARKER and e not in self._names
                      and _partial_of(e) not in self._names | {MARKER})

    def remove_partials(self) -> list[str]:
        """Delete the temporary files and folders that interrupted writes of jaxmusic's names
        left here."""
        gone = []
        for e in os.listdir(self.path):
            if _partial_of(e) in self._names | {MARKER}:
                p = self.path / e
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
                gone.append(e)
        return gone

    def _save_marker(self) -> None:
        if not self._writer:
            return
        # another RunDir object of this folder may have recorded names since: keep them
        on_disk = read_marker(self.path, force=True) or {}
        self._names |= set(on_disk.get("names", []))
        disk_files = on_disk.get("files", {})
        disk_files = disk_files if isinstance(disk_files, dict) else {f: None for f in disk_files}
        for f, stamp in disk_files.items():
            if f not in self._dropped and f not in self._files:
                self._files[f] = stamp
        self._marker = dict(self._marker, names=sorted(self._names), files=dict(sorted(self._files.items())))
        write_json(self.path / MARKER, self._marker)


def _new_marker(kind: str, names: Iterable[str] = ()) -> dict:
    from . import __version__

    return {"format": _MARKER_FORMAT, "version": _MARKER_VERSION, "kind": kind, "jaxmusic": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "names": sorted(names)}


def _describe(entries: Sequence[str]) -> str:
    shown = ", ".join(repr(e) for e in entries[:3])
    return f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}: {shown}{', ...' if len(entries) > 3 else ''}"


def claim_dir(path, kind: str, *, force: bool = False, legacy: Legacy | None = None,
              writer: bool = True, inputs: Iterable = ()) -> RunDir:
    """Take the folder ``path`` for a run of ``kind``, creating it with its marker.

    Parameters
    ----------
    path : str or path-like
        The folder (``~`` is expanded).
    kind : str
        What writes it (``"recognition"``, ``"autoencoder"``, ``"dataset"``, ...).
    force : bool
        Write into an existing folder that jaxmusic did not write, or that holds
        another kind of jaxmusic run; jaxmusic then replaces the names it writes and
        deletes nothing it did not write.
    legacy : Legacy, optional
        The layout this kind had before markers existed: such a folder is adopted.
    writer : bool
        False on the processes of a multi-process run that do not write (they check
        nothing and write no marker).
    inputs : iterable of paths
        The run's inputs: the folder may not be one of them, lie inside one, or hold one.

    Returns
    -------
    RunDir

    Raises
    ------
    OutputError
        ``path`` is a file, an input, a foreign folder or another kind's folder
        (without ``force``), or holds an unreadable marker.
    """
    path = check_not_input(path, inputs, what="the output folder")
    if not writer:
        return RunDir(path, kind, {"names": []}, forced=force, writer=False)
    above = _owner(path)
    force = force or (above is not None and above[0].forced)  # inside a folder taken with force: taken too
    return _register(_claim(path, kind, force=force, legacy=legacy))


def _register(run: RunDir) -> RunDir:
    _ACTIVE[str(run.path.expanduser().resolve(strict=False))] = run
    return run


def _claim(path: Path, kind: str, *, force: bool, legacy: Legacy | None) -> RunDir:
    if os.path.lexists(path) and not path.is_dir():
        what = "is a broken link" if path.is_symlink() and not path.exists() else "exists and is not a folder"
        raise OutputError(f"the output folder {path} {what}; choose another path")
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        marker = _new_marker(kind)
        write_json(path / MARKER, marker)
        run = RunDir(path, kind, marker)
        run.created = True
        return run
    marker = read_marker(path, force=force)
    if marker is None:
        entries = sorted(e for e in os.listdir(path) if _partial_of(e) != MARKER)
        if not entries:
            marker = _new_marker(kind)
        elif legacy is not None and legacy.matches(path, entries):
            marker = dict(_new_marker(kind, entries), adopted=True)
        elif force:
            marker = dict(_new_marker(kind), forced=True)
        else:
            raise OutputError(
                f"{path} exists and was not written by jaxmusic (it holds {_describe(entries)}): choose "
                f"another folder, or {_FORCE_HINT} to write into it (jaxmusic then replaces only the files "
                "it writes and deletes nothing else)")
        write_json(path / MARKER, marker)
        return RunDir(path, kind, marker, forced=force)
    if marker.get("kind") != kind:
        if not force:
            raise OutputError(f"{path} holds a jaxmusic {marker.get('kind')} run, not a {kind}: choose another "
                              f"folder, or {_FORCE_HINT}")
        marker = dict(marker, kind=kind)
        write_json(path / MARKER, marker)
    return RunDir(path, kind, marker, forced=force)


def as_run_dir(out, kind: str, *, force: bool = False, legacy: Legacy | None = None,
               inputs: Iterable = (), writer: bool = True) -> RunDir | None:
    """``out`` as a `RunDir`: None stays None, a `RunDir` (a caller's folder) is used as
    it is, a path is claimed for ``kind``."""
    if out is None or isinstance(out, RunDir):
        return out
    return claim_dir(out, kind, force=force, legacy=legacy, inputs=inputs, writer=writer)


def replace_dir(tmp: Path, run: RunDir) -> None:
    """Put the finished folder ``tmp`` (a complete set of ``run``'s files, its marker
    included) in place of ``run``'s folder.

    When the folder holds only what jaxmusic wrote it is swapped in one rename (the
    old one then deleted); otherwise (files of someone else's are in it) ``tmp``'s
    files are moved in one by one, each in one rename, the marker last, and nothing
    else is touched."""
    path = run.path
    foreign = run.foreign()
    if not foreign:
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part.old", dir=path.parent))
        os.replace(path, old / "x")
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(old / "x", path)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    names = sorted(e for e in os.listdir(tmp) if e != MARKER)
    for e in names:
        run.file(e)
        if (path / e).is_dir() and not (path / e).is_symlink():
            shutil.rmtree(path / e)
        os.replace(tmp / e, path / e)
    os.replace(tmp / MARKER, path / MARKER) if (tmp / MARKER).exists() else run._save_marker()
    shutil.rmtree(tmp, ignore_errors=True)
