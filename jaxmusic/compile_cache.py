"""Compile once, across runs: JAX's persistent compilation cache in a folder of jaxmusic's.

JAX compiles every jitted transform and training step the first time a process
calls it: 5-20 s each on a two-core CPU, paid again by every run of every script.
With the persistent cache on, a compiled program is written to disk and the next
process that needs the same program (same function, shapes, dtypes, devices and
JAX version) reads it back instead of compiling.

- The ``jaxmusic`` command turns it on for every sub-command;
  ``jaxmusic --no-compile-cache COMMAND ...`` runs without it.
- In Python, call `enable_compile_cache` once, before the first jitted call::

      from jaxmusic.compile_cache import enable_compile_cache
      enable_compile_cache()                  # $JAXMUSIC_CACHE_DIR, else ~/.cache/jaxmusic/jax
      enable_compile_cache("/scratch/jax")    # or a folder of your choice

The folder: ``$JAXMUSIC_CACHE_DIR`` when set, else ``jaxmusic/jax`` under the
user's cache directory (``$XDG_CACHE_HOME``, else ``~/.cache``). It is apart from
the rendered notes of `jaxmusic.data` (``$JAXMUSIC_CACHE``, ``~/.cache/jaxmusic``)
and, like every folder jaxmusic writes, carries a ``.jaxmusic.json`` marker: an
existing folder that jaxmusic did not make is refused (`jaxmusic.OutputError`).
Delete the folder to empty the cache; JAX's ``jax_compilation_cache_max_size``
option bounds its size (JAX then needs the ``filelock`` package).

JAX writes the entries itself, in place: an entry cut short by a kill during its
write is reported by JAX as unreadable (a warning) and compiled again; deleting
the folder clears it.

The cache is trusted code: a program read from it is run as it is. Keep it in a
folder only you can write to.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ._checks import check_real
from ._files import OutputError, claim_dir

__all__ = ["enable_compile_cache", "disable_compile_cache", "compile_cache", "default_cache_dir", "ENV"]

#: The environment variable that moves the cache folder.
ENV = "JAXMUSIC_CACHE_DIR"
#: The kind of jaxmusic folder the cache is (its marker's ``kind``).
KIND = "compile-cache"

# JAX's options, with what jaxmusic sets them to. JAX's defaults (1 s, size chosen by
# JAX) leave out most CPU programs, which compile in well under a second each but
# add up to most of a short command's time.
_OPTIONS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes")


def default_cache_dir() -> Path:
    """The cache folder used when none is given.

    Returns
    -------
    Path
        ``$JAXMUSIC_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/jaxmusic/jax``,
        else ``~/.cache/jaxmusic/jax`` (``~`` expanded).
    """
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "jaxmusic" / "jax"


def _reset() -> None:
    """Forget the cache JAX opened (it opens one at the first compilation that needs it),
    so that the next compilation uses the folder configured now."""
    from jax.experimental.compilation_cache import compilation_cache as cc

    cc.reset_cache()


def enable_compile_cache(path=None, *, min_compile_time: float = 0.0) -> Path:
    """Turn on JAX's persistent compilation cache in a jaxmusic cache folder.

    Every program JAX compiles from now on in this process (jitted transforms,
    training steps, the kernels of eager calls) that took at least
    ``min_compile_time`` seconds is written to the folder, and a later process
    that compiles the same program reads it from there instead. Call it once,
    before the first jitted call; the ``jaxmusic`` command does it for you.

    Parameters
    ----------
    path : str or path-like, optional
        The cache folder; default `default_cache_dir` (``$JAXMUSIC_CACHE_DIR``,
        else ``~/.cache/jaxmusic/jax``). Created with its ``.jaxmusic.json``
        marker when missing.
    min_compile_time : float
        Programs that compiled faster than this many seconds are not written
        (JAX's ``jax_persistent_cache_min_compile_time_secs``; JAX's own default
        of 1 s would leave out most CPU programs).

    Returns
    -------
    Path
        The cache folder.

    Raises
    ------
    jaxmusic.OutputError
        ``path`` exists and is not a folder jaxmusic made (it holds other files),
        or is a file: choose another folder, e.g. with ``JAXMUSIC_CACHE_DIR``.

    Notes
    -----
    The cache is keyed by the program, its shapes and dtypes, the devices and
    the JAX and XLA versions, so a stale entry is never used. Entries are JAX's
    files; delete the folder to empty the cache. `disable_compile_cache` turns
    it off again.
    """
    import jax

    min_compile_time = check_real("min_compile_time", min_compile_time, min=0.0)
    folder = default_cache_dir() if path is None else Path(path).expanduser()
    run = claim_dir(folder, KIND)
    jax.config.update("jax_compilation_cache_dir", str(run.path.absolute()))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_time)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # no size floor
    _reset()
    return run.path


def disable_compile_cache() -> None:
    """Turn the persistent compilation cache off in this process (programs are compiled
    again by every process; the folder and its entries are left as they are)."""
    import jax

    jax.config.update("jax_compilation_cache_dir", None)
    _reset()


@contextlib.contextmanager
def compile_cache(path=None, *, enabled: bool = True, on_refused=None):
    """The persistent compilation cache on inside a ``with`` block, JAX's previous
    settings restored after it (what the ``jaxmusic`` command runs in).

    Parameters
    ----------
    path : str or path-like, optional
        As in `enable_compile_cache`.
    enabled : bool
        False: change nothing (``--no-compile-cache``).
    on_refused : callable, optional
        Called with the error (`jaxmusic.OutputError`, or `OSError` for a folder
        that cannot be made) when the folder is refused; the block then runs
        without the cache. Default: the error is raised.

    Yields
    ------
    Path or None
        The cache folder, or None when the cache is off.
    """
    if not enabled:
        yield None
        return
    import jax

    previous = {name: getattr(jax.config, name) for name in _OPTIONS}
    try:
        folder = enable_compile_cache(path)
    except (OutputError, OSError) as err:  # refused, or a folder that cannot be made (read-only home)
        if on_refused is None:
            raise
        on_refused(err)
        folder = None
    try:
        yield folder
    finally:
        if folder is not None:
            for name, value in previous.items():
                jax.config.update(name, value)
            _reset()
