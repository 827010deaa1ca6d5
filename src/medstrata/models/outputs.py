"""Per-split outputs of a cached reference model, keyed by sample id, and the :class:`Problem` built
from them.

Files under ``<model_dir>/outputs/`` (our own files, ``np.savez`` without pickles):

* ``<split>.npz``: ``sample_ids`` (n,) str, ``labels`` (n,) int64, ``probs`` (n, C) float64,
  ``losses`` (n,) float64 per-sample cross-entropy, and the split's fingerprint.
* ``<split>.<encoder>.npz``: ``sample_ids`` (n,) str and ``embeddings`` (n, d) float32, plus the
  fingerprints of the split and of the train split the encoder was fit on.

Each file is written to a temp file and renamed into place, so a reader never sees half a file. A
file whose stored fingerprints match the arrays given is reused, not recomputed. :func:`load_outputs`
joins the embeddings to the core outputs **by sample id**, never by position.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from medstrata import integrity, locks
from medstrata.errors import CorruptArtifactError
from medstrata.models import cache, encoders
from medstrata.models.data import SplitArrays
from medstrata.models.threads import torch_threads
from medstrata.problem import Problem

DEFAULT_ENCODERS = ("penultimate", "pixel_pca")
_NAME = re.compile(r"^[a-z0-9_]+$")


def outputs_dir(model_dir: Path) -> Path:
    return Path(model_dir) / "outputs"


def _core_path(model_dir: Path, split: str) -> Path:
    return outputs_dir(model_dir) / f"{_safe(split)}.npz"


def _emb_path(model_dir: Path, split: str, encoder: str) -> Path:
    return outputs_dir(model_dir) / f"{_safe(split)}.{_safe(encoder)}.npz"


def _safe(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"split and encoder names must match {_NAME.pattern}, got {name!r}")
    return name


def write_outputs(model_dir: Path, splits: Mapping[str, SplitArrays],
                  encoder_names: Iterable[str] = DEFAULT_ENCODERS, num_threads: int = 2) -> None:
    """Write probs, losses and embeddings for every split in ``splits``; reuse files that match.

    Args:
        model_dir: a valid entry from :func:`medstrata.models.cache.get_or_train`.
        splits: split name -> arrays; must contain ``"train"`` (encoders are fit on it).
        encoder_names: registry names, see :func:`medstrata.models.encoders.available_encoders`.
        num_threads: torch threads for the forward passes.
    """
    if "train" not in splits:
        raise ValueError("write_outputs needs the 'train' split: encoders are fit on it")
    names = list(encoder_names)
    with locks.hold(f"model-{Path(model_dir).name}"):
        sweep_temps(model_dir)
        _write_missing(model_dir, splits, names, num_threads)


def _write_missing(model_dir: Path, splits: Mapping[str, SplitArrays], names: list[str], num_threads: int) -> None:
    """The body of :func:`write_outputs`, run with the model's lock held."""
    todo = {s: a for s, a in splits.items() if _stale(model_dir, s, a, names, splits["train"])}
    if not todo:
        return
    forwards = _Forwards(model_dir, num_threads)
    fitted = {name: None for name in names}
    for split, arrays in todo.items():
        out = forwards(split, arrays)
        if _needs(_core_path(model_dir, split), arrays.fingerprint()):
            _write_core(model_dir, split, arrays, out)
        for name in names:
            if _needs(_emb_path(model_dir, split, name), arrays.fingerprint(), splits["train"].fingerprint()):
                if fitted[name] is None:
                    fitted[name] = encoders.get_encoder(name).fit(
                        splits["train"], forwards("train", splits["train"]), Path(model_dir).name)
                _write_emb(model_dir, split, name, arrays, fitted[name].transform(arrays, out), splits["train"])


class _Forwards:
    """Memoised forward passes of one model, per split (the train pass serves both outputs and fits)."""

    def __init__(self, model_dir: Path, num_threads: int) -> None:
        self.model_dir, self.num_threads, self.memo = model_dir, num_threads, {}

    def __call__(self, split: str, arrays: SplitArrays) -> encoders.ModelOutputs:
        import torch

        from medstrata.models.train import predict

        if split not in self.memo:
            if not hasattr(self, "model"):
                self.model = cache.load_model(self.model_dir)
            previous = torch.get_num_threads()
            torch.set_num_threads(torch_threads(self.num_threads))
            try:
                self.memo[split] = encoders.ModelOutputs(*predict(self.model, arrays))
            finally:
                torch.set_num_threads(previous)
        return self.memo[split]


def _stale(model_dir: Path, split: str, arrays: SplitArrays, names: list[str], train: SplitArrays) -> bool:
    fp, train_fp = arrays.fingerprint(), train.fingerprint()
    return _needs(_core_path(model_dir, split), fp) or any(
        _needs(_emb_path(model_dir, split, n), fp, train_fp) for n in names)


def _needs(path: Path, fingerprint: str, train_fingerprint: str | None = None) -> bool:
    """True unless ``path`` matches its recorded SHA-256 and was written from arrays with these
    fingerprints. A file that exists but fails its hash is reported by path (and then rewritten)."""
    if not path.is_file():
        return True
    why = integrity.problem(path)
    if why:
        integrity.report(path, why)
        return True
    try:
        with np.load(path, allow_pickle=False) as z:
            ok = str(z["fingerprint"]) == fingerprint
            return not (ok and (train_fingerprint is None or str(z["train_fingerprint"]) == train_fingerprint))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return True


def probs_and_losses(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (n, C) float64 and per-sample cross-entropy (n,) float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    probs = np.exp(logp)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs, -logp[np.arange(len(labels)), labels]


def _write_core(model_dir: Path, split: str, arrays: SplitArrays, out: encoders.ModelOutputs) -> None:
    labels = arrays.labels.astype(np.int64)
    probs, losses = probs_and_losses(out.logits, labels)
    _atomic_savez(_core_path(model_dir, split), sample_ids=np.asarray(arrays.sample_ids).astype(str),
                  labels=labels, probs=probs, losses=losses, fingerprint=np.array(arrays.fingerprint()))


def _write_emb(model_dir: Path, split: str, name: str, arrays: SplitArrays, emb: np.ndarray,
               train: SplitArrays) -> None:
    if emb.ndim != 2 or len(emb) != arrays.n:
        raise ValueError(f"encoder {name!r} returned shape {emb.shape} for {arrays.n} samples; expected (n, d)")
    _atomic_savez(_emb_path(model_dir, split, name), sample_ids=np.asarray(arrays.sample_ids).astype(str),
                  embeddings=emb.astype(np.float32), fingerprint=np.array(arrays.fingerprint()),
                  train_fingerprint=np.array(train.fingerprint()))


def _atomic_savez(path: Path, **arrays: Any) -> None:
    """``np.savez`` to ``path`` atomically, with its SHA-256 recorded (:mod:`medstrata.integrity`)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    integrity.write_verified(path, buffer.getvalue())


def _open_verified(path: Path):
    """``np.load`` of an outputs file after checking its recorded SHA-256."""
    why = integrity.problem(path)
    if why:
        raise CorruptArtifactError(f"model outputs {path}: {why}; rerun `medstrata run` to recompute them")
    return np.load(path, allow_pickle=False)


def open_core(model_dir: Path, split: str):
    """``np.load`` of a split's core outputs file (sample_ids, labels, probs, losses), hash checked."""
    return _open_verified(_core_path(model_dir, split))


def load_outputs(model_dir: Path, split: str, encoder: str = "penultimate") -> Problem:
    """The :class:`Problem` for one split: core outputs joined to ``encoder``'s embeddings by sample id.

    Rows follow the order of the split's core file. Raises FileNotFoundError if either file is missing
    and ValueError if the two files do not hold the same set of sample ids.
    """
    with open_core(model_dir, split) as z:
        ids, labels, probs, losses = z["sample_ids"], z["labels"], z["probs"], z["losses"]
    with _open_verified(_emb_path(model_dir, split, encoder)) as z:
        emb_ids, emb = z["sample_ids"], z["embeddings"]
    embeddings = join_by_id(ids, emb_ids, emb)
    return Problem(sample_ids=ids, labels=labels.astype(np.int64), probs=probs.astype(np.float64),
                   losses=losses.astype(np.float64), embeddings=embeddings.astype(np.float32),
                   embedding_name=encoder)


def join_by_id(ids: np.ndarray, other_ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Rows of ``values`` (keyed by ``other_ids``) reordered to follow ``ids``; (len(ids), ...)."""
    if len(ids) != len(other_ids) or set(ids.tolist()) != set(other_ids.tolist()):
        raise ValueError("the two outputs files hold different sample ids")
    position = {sid: i for i, sid in enumerate(other_ids.tolist())}
    return values[np.fromiter((position[s] for s in ids.tolist()), dtype=np.int64, count=len(ids))]


def reference_outputs(task_key: str, splits: Mapping[str, SplitArrays], n_classes: int,
                      model_spec: dict[str, Any], seed: int, encoder_names: Iterable[str] = DEFAULT_ENCODERS,
                      num_threads: int = 2, progress: bool = True) -> Path:
    """:func:`~medstrata.models.cache.get_or_train` on ``splits["train"]``/``["val"]``, then
    :func:`write_outputs` for every split. Returns the model dir, ready for :func:`load_outputs`."""
    return ensure_reference(task_key, splits, n_classes, model_spec, seed, encoder_names, num_threads, progress)[0]


def ensure_reference(task_key: str, splits: Mapping[str, SplitArrays], n_classes: int,
                     model_spec: dict[str, Any], seed: int, encoder_names: Iterable[str] = DEFAULT_ENCODERS,
                     num_threads: int = 2, progress: bool = True) -> tuple[Path, bool]:
    """:func:`reference_outputs` that also says whether the model was trained by this call."""
    model_dir, trained = cache.ensure(task_key, splits["train"], splits["val"], n_classes, model_spec, seed,
                                      num_threads, progress)
    write_outputs(model_dir, splits, encoder_names, num_threads)
    return model_dir, trained


def sweep_temps(model_dir: Path) -> None:
    """Remove half-written outputs temps (``.<name>.*.tmp``) of a killed writer; call with the
    model's lock held."""
    folder = outputs_dir(model_dir)
    if folder.is_dir():
        for entry in folder.glob(".*.tmp"):
            entry.unlink(missing_ok=True)
