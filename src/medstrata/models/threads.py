"""Torch intra-op thread count: the caller's value unless ``MEDSTRATA_THREADS`` overrides it.

On a shared or busy machine two OpenMP threads that wait on each other can run far slower than one
(measured here: a 2-thread organamnist model took 958 s wall next to another busy process, against
89 s alone), so ``MEDSTRATA_THREADS=1`` is the setting for such machines. The thread count does not
enter any cache key; results with different counts may differ in the last bits of float sums.
"""

from __future__ import annotations

import os

from medstrata.errors import SpecError

ENV = "MEDSTRATA_THREADS"


def torch_threads(requested: int) -> int:
    """``requested``, or the positive integer in ``$MEDSTRATA_THREADS`` when that is set."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return requested
    if not raw.isdigit() or int(raw) < 1:
        raise SpecError(f"{ENV}={raw!r} is not a positive integer (torch threads for training and inference)")
    return int(raw)
