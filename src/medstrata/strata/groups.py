"""Coherent subgroups shared by several injectors.

* ``subclass``: the samples whose *official* label is ``subclass`` (multi-class sources).
* ``low_intensity`` / ``high_intensity``: the ``fraction`` of task class ``cls`` with the lowest /
  highest mean pixel intensity. The threshold is the quantile over train+val of that class, and the
  same threshold is applied to test, so membership is a property of the image (e.g. under-exposed
  films), not of the split. Used on binary sources that have no subclasses.
* ``random``: a keyed random ``fraction`` of task class ``cls`` (for injectors whose pixel change
  itself makes the group coherent).
"""

from __future__ import annotations

import numpy as np

from medstrata.errors import ImpossibleSpecError, SpecError
from medstrata.hashing import keyed_uniform
from medstrata.strata.base import BuildState

GROUPS = ("subclass", "low_intensity", "high_intensity", "random")


def _class_mask(state: BuildState, cls: int) -> np.ndarray:
    if not 0 <= cls < state.n_classes:
        raise SpecError(f"cls={cls} is not a task class (0..{state.n_classes - 1})")
    return state.keep & (state.clean_label == cls)


def group_mask(state: BuildState, group: str, subclass: int, cls: int, fraction: float, purpose: str) -> np.ndarray:
    """(n,) bool membership of the subgroup over all splits."""
    if group == "subclass":
        if state.target["kind"] == "official" and len(state.source_class_names) <= 2:
            raise ImpossibleSpecError(
                f"group=subclass needs a multi-class source; {state.flag} is binary: use group=low_intensity"
            )
        if not 0 <= subclass < len(state.source_class_names):
            raise SpecError(f"subclass={subclass} is not an official class of {state.flag} (0..{len(state.source_class_names) - 1})")
        return state.keep & (state.source_label == subclass)
    in_class = _class_mask(state, cls)
    if group == "random":
        return in_class & (keyed_uniform(state.key, state.sample_ids, purpose) < fraction)
    flat = state.images.reshape(len(state.images), -1)
    brightness = flat.mean(axis=1)
    fit = in_class & (state.split != "test")
    if not fit.any():
        raise ImpossibleSpecError(f"class {cls} has no train/val samples to define group={group}")
    q = fraction if group == "low_intensity" else 1.0 - fraction
    threshold = float(np.quantile(brightness[fit], q))
    return in_class & ((brightness <= threshold) if group == "low_intensity" else (brightness > threshold))


def group_name(state: BuildState, group: str, subclass: int, cls: int, fraction: float) -> str:
    if group == "subclass":
        return f"subclass {subclass} ({state.source_class_names[subclass]})"
    return f"{group} {fraction:g} of class {cls} ({state.class_names[cls]})"
