"""JTT's identification model: a briefly trained ERM of the same task, and its outputs.

Liu et al. (2021), Algorithm 1, step 1: train f_id by ERM for T epochs only, early, before it
memorises its training set, and take its errors as the error set. Here f_id is the reference
architecture trained on the same train split with the same seed-derived initialisation and data
order, but for :data:`DEFAULT_EPOCHS` epochs at a constant learning rate (Liu et al. train with a
constant rate; T = 1 or 2 epochs for CelebA, MultiNLI and CivilComments), keeping the epoch with the
best validation accuracy (early stopping on val; JTT picks T on val). Exactly T epochs: the reference
recipe's step floor (``min_steps``) is switched off, since it would turn T = 2 into 6 epochs on
BloodMNIST (93 steps per epoch) and the model would no longer be *briefly* trained. It is cached like a reference
model (content hash of task, spec and seed), under its own key, and only its class probabilities
are written (``outputs/<split>.npz``, no embeddings).

Deviation, documented in ``docs/methods.md``: Liu et al. select T by worst-group validation
accuracy, which needs group labels; MedStrata methods never see strata, so T is fixed (2 epochs)
and the checkpoint is chosen by average validation accuracy.

Citation:
    Liu, Haghgoo, Chen, Raghunathan, Koh, Sagawa, Liang, Finn. "Just Train Twice: Improving Group
    Robustness without Training Group Information." ICML 2021.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from medstrata.models import cache
from medstrata.models.data import SplitArrays
from medstrata.models.outputs import join_by_id, open_core, write_outputs
from medstrata.problem import Problem

#: JTT's T: epochs of the identification model.
DEFAULT_EPOCHS = 2


def identification_spec(model_spec: Mapping[str, Any], epochs: int = DEFAULT_EPOCHS) -> dict[str, Any]:
    """The reference model spec with JTT's short, constant-rate, early-stopped training."""
    return {**dict(model_spec), "epochs": int(epochs), "min_steps": 0, "schedule": "constant",
            "select": "best_val_acc"}


def identification_outputs(task_key: str, splits: Mapping[str, SplitArrays], n_classes: int,
                           model_spec: Mapping[str, Any], seed: int, epochs: int = DEFAULT_EPOCHS,
                           num_threads: int = 2, progress: bool = False) -> Path:
    """Train (or reuse) the identification model and write its probabilities for every split.

    Args:
        splits: must hold ``"train"`` and ``"val"`` (training and early stopping) and the splits
            to write outputs for.

    Returns:
        The model's cache dir; :func:`attach` reads its outputs.
    """
    spec = identification_spec(model_spec, epochs)
    model_dir = cache.get_or_train(f"{task_key}:jtt-identification", splits["train"], splits["val"],
                                   n_classes, spec, seed, num_threads, progress)
    write_outputs(model_dir, splits, encoder_names=(), num_threads=num_threads)
    return model_dir


def attach(problem: Problem, model_dir: Path, split: str) -> Problem:
    """``problem`` with ``id_probs`` (n, C) from the identification model, joined by sample id."""
    from dataclasses import replace

    with open_core(Path(model_dir), split) as z:
        ids, probs = z["sample_ids"], z["probs"]
    return replace(problem, id_probs=join_by_id(problem.sample_ids, ids, probs).astype(np.float64))
