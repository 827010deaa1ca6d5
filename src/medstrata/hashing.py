"""Identity and keyed randomness.

* :func:`canonical_json` is the single serialisation used for every content hash (task, model, run
  and submission ids). Sorted keys, fixed separators, no NaN, floats in ``repr`` form.
* :func:`keyed_uniform` and :func:`keyed_rng` derive random draws from a stable key
  ``(spec hash, sample id, purpose)`` so that results never depend on processing order, worker count,
  ``PYTHONHASHSEED`` or the global RNG.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

_U64 = float(2**64)


def _check_finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"canonical_json refuses non-finite float {obj!r}")
    if isinstance(obj, dict):
        for v in obj.values():
            _check_finite(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_finite(v)
    return obj


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` deterministically: sorted keys, ``(",", ":")`` separators, ASCII, no NaN."""
    _check_finite(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(obj: Any) -> str:
    """SHA-256 hex digest of ``canonical_json(obj)``."""
    return sha256_text(canonical_json(obj))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_array(arr: np.ndarray) -> str:
    """Hash of an array's dtype, shape and C-ordered bytes."""
    a = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _key_digest(parts: Sequence[Any]) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()


def keyed_uniform(key: str, sample_ids: Iterable[str], purpose: str) -> np.ndarray:
    """One uniform draw in [0, 1) per sample, a pure function of ``(key, sample_id, purpose)``.

    Args:
        key: stable key of the job, e.g. the spec hash.
        sample_ids: (n,) sample ids.
        purpose: what the draw is for (``"assign"``, ``"flip"``, ...), so draws for different
            purposes are independent.

    Returns:
        (n,) float64 array.
    """
    out = [int.from_bytes(_key_digest((key, sid, purpose))[:8], "little") / _U64 for sid in sample_ids]
    return np.asarray(out, dtype=np.float64)


def keyed_rng(*parts: Any) -> np.random.Generator:
    """A ``numpy`` Generator seeded from a stable key, e.g. ``keyed_rng(spec_hash, sample_id, "marker")``."""
    seed = int.from_bytes(_key_digest(parts)[:16], "little")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))


def keyed_seed(*parts: Any) -> int:
    """A 63-bit integer seed derived from a stable key (for libraries that take an int seed)."""
    return int.from_bytes(_key_digest(parts)[:8], "little") >> 1
