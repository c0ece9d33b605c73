"""TensorBoard event files for training runs, written without TensorFlow.

`fit` and `minimize` write one when given ``logdir``: every evaluation's
scalars (the entries of the run's history: ``train_loss``, ``val_loss``,
``val_error``, ``examples_per_s``, ``learning_rate``, ...), and the trainers of
`jaxmusic.synthesis` add a few audio summaries at the end. Point TensorBoard at
the folder (``tensorboard --logdir runs/logs``) to watch the curves.

- `SummaryLog`: a log folder open for writing (scalars, audio), resumable.
- `log_audio`: add audio summaries to a log folder.
- `read_scalars`: the scalars of a log folder, as TensorBoard shows them.

The folder is jaxmusic's, of kind ``"logs"`` (a ``.jaxmusic.json`` marker; an
existing folder jaxmusic did not write is refused unless ``force``), and every
event file in it is recorded in the marker. Event files are append-only logs,
as TensorBoard reads them while they grow: each writer opens a new file, writes
whole records and flushes them at every evaluation; a record cut short by a
kill is skipped by every reader. In a multi-process run only process 0 writes.

A run resumed from its checkpoint appends to the same folder: the steps already
logged are not written again, and the steps the interrupted run logged after
its checkpoint are hidden (a session-start record, TensorBoard's own mechanism),
so TensorBoard shows one curve with each step once.

The records are TensorBoard's ``Event`` protocol buffers (tensorboardX's
definitions), framed as TFRecords.
"""

from __future__ import annotations

import io
import itertools
import math
import os
import socket
import struct
import time
from pathlib import Path

import numpy as np

from .._checks import ParameterError
from .._files import RunDir, as_run_dir

__all__ = ["SummaryLog", "log_audio", "read_scalars"]

#: The kind of jaxmusic folder a log folder is.
KIND = "logs"
#: Scalars of a history entry that are not curves.
_NOT_LOGGED = ("step", "seconds")
_counter = itertools.count()


def _event_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if "tfevents" in p.name and p.is_file())


def _records(path: Path):
    """The payloads of a TFRecord file; a record cut short (a killed writer) ends the file."""
    data = path.read_bytes()
    pos = 0
    while pos + 12 <= len(data):
        (n,) = struct.unpack("<Q", data[pos:pos + 8])
        if pos + 12 + n + 4 > len(data):
            return
        yield data[pos + 12:pos + 12 + n]
        pos += 16 + n


def _events(folder: Path):
    """``(step, tag, kind, value)`` of every summary value in the folder, in file order,
    after TensorBoard's purges (a session-start record at step s hides the earlier
    records of steps >= s). ``kind`` is ``"scalar"`` (value: float) or ``"audio"``."""
    from google.protobuf.message import DecodeError
    from tensorboardX.proto.event_pb2 import Event, SessionLog

    out: list = []
    for path in _event_files(folder):
        for payload in _records(path):
            try:
                event = Event.FromString(payload)
            except DecodeError:
                break
            if event.HasField("session_log") and event.session_log.status == SessionLog.START:
                out = [e for e in out if e[0] < event.step]
                continue
            if not event.HasField("summary"):
                continue
            for v in event.summary.value:
                if v.HasField("simple_value"):
                    out.append((int(event.step), v.tag, "scalar", float(v.simple_value)))
                elif v.HasField("audio"):
                    out.append((int(event.step), v.tag, "audio", None))
    return out


def read_scalars(logdir) -> dict:
    """The scalars of a log folder, as TensorBoard shows them.

    Parameters
    ----------
    logdir : str or path-like
        A folder of event files (written by `SummaryLog`, or any TensorBoard writer).

    Returns
    -------
    dict
        ``{tag: [(step, value), ...]}`` in the order written, the records a
        resumed run hid left out. Values are float32 (TensorBoard's precision).
    """
    out: dict = {}
    for step, tag, kind, value in _events(Path(os.fspath(logdir)).expanduser()):
        if kind == "scalar":
            out.setdefault(tag, []).append((step, value))
    return out


def _learning_rate_reader(learning_rate, opt_state):
    """How to read the learning rate of a run: a number (the default Adam's), or the one
    value an `optax.inject_hyperparams` state holds under ``hyperparams['learning_rate']``
    (read from the optimizer state at each evaluation); None when neither says."""
    if isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool):
        value = float(learning_rate)
        return lambda opt_state: value
    import jax

    found = []
    for path, _ in jax.tree_util.tree_flatten_with_path(opt_state)[0]:
        names = [getattr(k, "name", getattr(k, "key", None)) for k in path]
        if len(names) >= 2 and names[-1] == "learning_rate" and names[-2] == "hyperparams":
            found.append(path)
    if len(found) != 1:
        return None  # no schedule exposed, or several (one per parameter group): not one curve
    path = found[0]

    def read(opt_state):
        from .mesh import to_host

        leaves = dict(jax.tree_util.tree_flatten_with_path(opt_state)[0])
        return float(np.asarray(to_host(leaves[path])))

    return read


class SummaryLog:
    """A TensorBoard log folder open for writing: scalars per step, audio clips.

    Parameters
    ----------
    logdir : str, path-like or jaxmusic RunDir
        The folder (created with its ``.jaxmusic.json`` marker, kind ``"logs"``; an
        existing folder jaxmusic did not write is refused unless ``force``). A
        folder jaxmusic already owns as another kind of run (the ``out`` folder of
        a training) is used as it is when passed as the `RunDir` its writer holds.
    force : bool
        Write into an existing folder jaxmusic did not write (its files are kept).
    writer : bool
        False on the processes of a multi-process run other than process 0: the
        log then writes nothing.

    Notes
    -----
    Each `SummaryLog` writes one new event file, opened at its first record.
    Use it as a context manager, or call `close`.
    """

    def __init__(self, logdir, *, force: bool = False, writer: bool = True):
        self.writer = bool(writer)
        self.run = as_run_dir(logdir, KIND, force=force, writer=self.writer)
        self._file = None
        self._events = _events(self.run.path) if self.writer else []

    # ------------------------------------------------------------------ what the folder holds
    def last_step(self) -> int | None:
        """The last step with a scalar in the folder (after purges), or None."""
        steps = [s for s, _, kind, _ in self._events if kind == "scalar"]
        return max(steps) if steps else None

    def has(self, tag: str, step: int) -> bool:
        """Whether the folder already holds ``tag`` at ``step`` (after purges)."""
        return any(s == step and t == tag for s, t, _, _ in self._events)

    # ------------------------------------------------------------------ writing
    def _write(self, event) -> None:
        if self._file is None:
            from tensorboardX.record_writer import RecordWriter
            from tensorboardX.proto.event_pb2 import Event

            host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname()) or "host"
            name = f"events.out.tfevents.{int(time.time()):010d}.{host}.{os.getpid()}.{next(_counter)}"
            self._file = RecordWriter(os.fspath(self.run / name))
            self._file.write(Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
        self._file.write(event.SerializeToString())

    def resume(self, history, *, resumed_from: int | None) -> None:
        """Bring the folder in line with a run's history when the run starts.

        The history entries after the folder's last logged step are written
        (a run that resumed from a checkpoint written without a log); when the
        folder holds steps after ``resumed_from`` (an interrupted run logged
        past its last checkpoint, or another run used the folder), a
        session-start record at ``resumed_from + 1`` hides them, as TensorBoard
        does for a restarted run.

        Parameters
        ----------
        history : list of dict
            The run's history so far (the checkpoint's).
        resumed_from : int or None
            The checkpoint's step; None for a run that starts at step 0.
        """
        if not self.writer:
            return
        start = int(resumed_from or 0)
        last = self.last_step()
        if last is not None and last > start:
            from tensorboardX.proto.event_pb2 import Event, SessionLog

            self._write(Event(wall_time=time.time(), step=start + 1,
                              session_log=SessionLog(status=SessionLog.START)))
            self._events = [e for e in self._events if e[0] <= start]
            last = self.last_step()
        for entry in history:
            if last is None or entry["step"] > last:
                self.scalars(entry)
        self.flush()

    def scalars(self, entry: dict, *, step: int | None = None) -> None:
        """Write the numbers of ``entry`` (a history entry: ``step`` and scalars) at its step.

        ``seconds`` (wall clock since the start) is left out; other non-numbers too."""
        if not self.writer:
            return
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary

        step = int(entry["step"] if step is None else step)
        values = [Summary.Value(tag=k, simple_value=float(v)) for k, v in entry.items()
                  if k not in _NOT_LOGGED and isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                  and math.isfinite(float(v))]
        if values:
            self._write(Event(wall_time=time.time(), step=step, summary=Summary(value=values)))
            self._events += [(step, v.tag, "scalar", v.simple_value) for v in values]

    def audio(self, sounds: dict, *, sr: int, step: int) -> None:
        """Write audio clips (``{tag: (samples,) float}``, mono at ``sr``) at ``step``.

        A clip louder than full scale is scaled down to peak 0.99; a tag the folder
        already holds at that step is not written again."""
        if not self.writer:
            return
        import soundfile as sf
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary

        sr = int(sr)
        values = []
        for tag, y in sounds.items():
            if self.has(tag, step):
                continue
            y = np.asarray(y, np.float32).reshape(-1)
            if not y.size or not np.all(np.isfinite(y)):
                raise ParameterError(f"the audio summary {tag!r} is empty or holds NaN/inf values")
            peak = float(np.max(np.abs(y)))
            if peak > 1.0:
                y = y * (0.99 / peak)
            buf = io.BytesIO()
            sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
            values.append(Summary.Value(tag=tag, audio=Summary.Audio(
                sample_rate=float(sr), num_channels=1, length_frames=int(y.size),
                encoded_audio_string=buf.getvalue(), content_type="audio/wav")))
        if values:
            self._write(Event(wall_time=time.time(), step=int(step), summary=Summary(value=values)))
            self._events += [(int(step), v.tag, "audio", None) for v in values]

    def flush(self) -> None:
        """Push the records written so far to disk (TensorBoard sees them)."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def log_audio(logdir, sounds: dict, *, sr: int, step: int, writer: bool | None = None) -> None:
    """Add audio clips to a log folder (a new event file beside the training's).

    Parameters
    ----------
    logdir : str, path-like or RunDir
        A log folder (see `SummaryLog`).
    sounds : dict
        ``{tag: (samples,) float}``, mono, e.g. ``{"audio/input": y, "audio/reconstruction": r}``.
    sr : int
        Their sampling rate in Hz.
    step : int
        The step they belong to (the training's last).
    writer : bool, optional
        Whether this process writes; default: process 0 only.
    """
    if writer is None:
        import jax

        writer = jax.process_index() == 0
    with SummaryLog(logdir, writer=writer) as log:
        log.audio(sounds, sr=sr, step=step)


def log_folder(logdir, *, out=None, force: bool = False, writer: bool = True) -> RunDir | None:
    """A training's log folder, claimed (kind ``"logs"``): None when no log is asked for;
    a ``logdir`` that is the training's own ``out`` folder (a `RunDir`) is that folder."""
    if logdir is None or isinstance(logdir, RunDir):
        return logdir
    if isinstance(out, RunDir) and Path(os.fspath(logdir)).expanduser().resolve() == out.path.resolve():
        return out
    return as_run_dir(logdir, KIND, force=force, writer=writer)


def open_log(logdir, *, out=None, force: bool = False, writer: bool = True) -> SummaryLog | None:
    """The `SummaryLog` of a training's ``logdir`` (see `log_folder`), or None."""
    folder = log_folder(logdir, out=out, force=force, writer=writer)
    return None if folder is None else SummaryLog(folder, force=force, writer=writer)
