"""Content-addressed cache of trained reference models.

Key: ``content_hash`` of (task key, resolved model spec, seed, :data:`CODE_VERSION`, n_classes, and
the fingerprints of the train and val arrays). The task key alone would already identify the data
for a well-behaved caller; the fingerprints make a stale hit impossible if a caller reuses a key for
different arrays. Thread count and progress display are not in the key.

Layout: ``paths.cache_dir()/models/<key>/`` holding ``meta.json`` (spec, seed, shapes, data
fingerprints), ``weights.pt`` (``torch.save`` of the state dict), ``history.json`` and, written last,
``DONE.json`` with the SHA-256 of every other file.

Atomicity: an entry is built in a temp dir under the same parent and renamed into place only after
``DONE.json`` is written. An entry is valid only if ``DONE.json`` exists, names the key, and every
listed file has the listed hash. Anything else (a crashed temp dir, a half-copied entry, a missing
marker) is ignored and rebuilt; the old directory is moved aside, never trusted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medstrata import paths
from medstrata.hashing import content_hash, sha256_file
from medstrata.models import train as train_mod
from medstrata.models.data import SplitArrays

if TYPE_CHECKING:
    from torch import nn

#: Bump when training code changes the weights a given spec and seed produce.
CODE_VERSION = "2"  # 2: step floor, class weights, val_bal_acc/val_auc selection
DONE = "DONE.json"
_FILES = ("meta.json", "weights.pt", "history.json")


def models_root() -> Path:
    """``paths.cache_dir() / "models"``."""
    return paths.cache_dir() / "models"


def model_key(task_key: str, train: SplitArrays, val: SplitArrays, n_classes: int,
              model_spec: dict[str, Any], seed: int) -> str:
    """The cache key (sha256 hex) of one reference model."""
    return content_hash(_key_parts(task_key, train, val, n_classes, model_spec, seed))


def _key_parts(task_key: str, train: SplitArrays, val: SplitArrays, n_classes: int,
               model_spec: dict[str, Any], seed: int) -> dict[str, Any]:
    return {
        "task_key": task_key, "spec": train_mod.resolve_spec(model_spec, train.kind), "seed": int(seed),
        "code_version": CODE_VERSION, "n_classes": int(n_classes),
        "train": train.fingerprint(), "val": val.fingerprint(),
    }


def is_valid(model_dir: Path) -> bool:
    """True iff ``model_dir`` is a complete entry: its ``DONE.json`` names the dir and matches every file."""
    done = model_dir / DONE
    if not done.is_file():
        return False
    try:
        record = json.loads(done.read_text())
        files = record["files"]
        if record["key"] != model_dir.name or set(files) != set(_FILES):
            return False
        return all((model_dir / f).is_file() and sha256_file(model_dir / f) == h for f, h in files.items())
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, OSError):
        return False


def get_or_train(task_key: str, train: SplitArrays, val: SplitArrays, n_classes: int,
                 model_spec: dict[str, Any], seed: int, num_threads: int = 2, progress: bool = True) -> Path:
    """Return the dir of the cached reference model, training and storing it first if needed.

    Args:
        task_key: stable identity of the task (e.g. the task id); part of the cache key.
        train, val: the arrays to train on and select the checkpoint with.
        n_classes, model_spec, seed: as in :func:`medstrata.models.train.train_reference`.

    Returns:
        ``models_root() / key``, a valid entry.
    """
    return ensure(task_key, train, val, n_classes, model_spec, seed, num_threads, progress)[0]


def ensure(task_key: str, train: SplitArrays, val: SplitArrays, n_classes: int, model_spec: dict[str, Any],
           seed: int, num_threads: int = 2, progress: bool = True) -> tuple[Path, bool]:
    """:func:`get_or_train` that also says whether this call trained the model (False: it was
    cached, or a concurrent process trained it while this one waited for the model's lock)."""
    parts = _key_parts(task_key, train, val, n_classes, model_spec, seed)
    final = models_root() / content_hash(parts)
    if is_valid(final):
        return final, False
    from medstrata import integrity, locks

    with locks.hold(f"model-{final.name}"):  # a concurrent run waits here, then reuses the entry
        if is_valid(final):
            return final, False
        if final.exists():
            integrity.report(final, f"not a complete model entry ({DONE} missing or a file's hash differs)",
                             "retraining")
        model, history = train_mod.fit_reference(train, val, n_classes, parts["spec"], seed, num_threads, progress)
        meta = {**parts, "in_channels": train.in_channels, "kind": train.kind,
                "image_shape": list(train.images.shape[1:])}
        _store(final, model, meta, history)
    return final, True


def _store(final: Path, model: "nn.Module", meta: dict[str, Any], history: list[dict]) -> None:
    """Write the entry into a temp dir beside ``final``, ``DONE.json`` last, then rename it into place."""
    import torch

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a cache entry is ordinary readable data
    try:
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        torch.save(model.state_dict(), tmp / "weights.pt")
        (tmp / "history.json").write_text(json.dumps(history, indent=1))
        files = {f: sha256_file(tmp / f) for f in _FILES}
        (tmp / DONE).write_text(json.dumps({"key": final.name, "files": files}, indent=1, sort_keys=True))
        _fsync_dir(tmp)
        _move_into_place(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``. An invalid ``final`` is moved aside first; a valid one (another
    process won the race) is kept and ``tmp`` is discarded by the caller."""
    if final.exists():
        if is_valid(final):
            return
        trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.stale-", dir=final.parent))
        os.replace(final, trash / "entry")
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError:
        if not is_valid(final):  # lost a race to a valid entry: fine; anything else is an error
            raise


def _fsync_dir(path: Path) -> None:
    for f in path.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def load_meta(model_dir: Path) -> dict[str, Any]:
    """The ``meta.json`` of a valid entry."""
    return json.loads((Path(model_dir) / "meta.json").read_text())


def load_model(model_dir: Path) -> "nn.Module":
    """Rebuild the net of a valid entry and load its weights (``weights_only=True``); eval mode."""
    import torch

    from medstrata.models.nets import init_net

    model_dir = Path(model_dir)
    if not is_valid(model_dir):
        raise FileNotFoundError(f"{model_dir} is not a complete model cache entry (no valid {DONE})")
    meta = load_meta(model_dir)
    spec = meta["spec"]
    # init_net leaves the global RNG untouched; its initial weights are overwritten just below.
    model = init_net(spec["arch"], meta["in_channels"], meta["n_classes"], spec["width"], seed=0)
    model.load_state_dict(torch.load(model_dir / "weights.pt", weights_only=True, map_location="cpu"))
    return model.eval()
