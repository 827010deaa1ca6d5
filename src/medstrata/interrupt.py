"""Ctrl-C that cannot be swallowed.

Some libraries catch ``KeyboardInterrupt`` (numba's JIT compiler, for one) and carry on, so a run
interrupted at the wrong moment used to finish and exit 0. :func:`install` puts a SIGINT handler
in place that records the interrupt before raising ``KeyboardInterrupt``; the run loops call
:func:`check` between jobs, and the CLI exits 130 whenever :func:`happened` is true, whatever
became of the exception.
"""

from __future__ import annotations

import signal

_STATE = {"interrupted": False}


def _handler(signum, frame) -> None:
    _STATE["interrupted"] = True
    raise KeyboardInterrupt


def install() -> None:
    """Route SIGINT through the recording handler (main thread only) and clear the record."""
    _STATE["interrupted"] = False
    signal.signal(signal.SIGINT, _handler)


def happened() -> bool:
    """True once SIGINT arrived since :func:`install`."""
    return _STATE["interrupted"]


def check() -> None:
    """Raise ``KeyboardInterrupt`` if SIGINT arrived (even if someone swallowed the first one)."""
    if _STATE["interrupted"]:
        raise KeyboardInterrupt
