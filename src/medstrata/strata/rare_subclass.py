"""``rare_subclass``: one subclass kept at prevalence ``p`` of its superclass in train and val.

Models the *low prevalence* source of hidden stratification (Oakden-Rayner et al., CHIL 2020) the
way Domino/dcbench build rare slices (subclass C of class Y at proportion alpha of Y) and GEORGE's
U-MNIST (digit 8 at 5 %).

Rules:
* The task predicts the superclass (``target=superclass``; see :mod:`medstrata.tasks.target`).
* In train and in val separately, ``k = round(p * n_other / (1 - p))`` subclass members are kept,
  where ``n_other`` is the number of the superclass's other samples. The kept members are the ``k``
  with the smallest keyed uniform draw, so the realised prevalence ``k / (k + n_other)`` is within
  one sample of ``p``. If ``k`` exceeds the subclass's size, all members are kept and the other
  samples of the superclass are subsampled instead to reach ``p``.
* **Test is never subsampled**: it keeps every official test image, so the stratum has all its
  official test members (bloodmnist monocyte: 284, organamnist pancreas: 1,622), far above the
  50 needed for stable metrics. A task whose stratum has fewer than 50 test members records a
  warning in its build info.

Defaults (measured, see REFERENCES.md "which strata actually hurt"): bloodmnist -> monocyte (5),
which at 2 % cost a 140k-parameter CNN 59 points while a visually distinct subclass (basophil) cost
2 points; organ* -> pancreas; other flags -> the last official class of superclass 1.

Citation:
    Oakden-Rayner, Dunnmon, Carneiro, Re. Hidden stratification causes clinically meaningful failures
    in machine learning for medical imaging. CHIL 2020.
    Eyuboglu et al. Domino: Discovering systematic errors with cross-modal embeddings. ICLR 2022.
"""

from __future__ import annotations

import numpy as np

from medstrata.errors import ImpossibleSpecError
from medstrata.hashing import keyed_uniform
from medstrata.strata import register_stratum
from medstrata.strata.base import Assignment, BuildState, Injector, Param, pick_smallest

_DEFAULT_SUBCLASS = {"bloodmnist": 5}


@register_stratum("rare_subclass")
class RareSubclass(Injector):
    order = 10  # canonical application order, see medstrata.strata.canonical_order
    knob, severities, multiclass_only = "p", (0.2, 0.1, 0.05, 0.02), True  # lower p = more severe
    params = {
        "subclass": Param(int, None, "official label of the rare subclass (dataset default)", low=0, nullable=True),
        "p": Param(float, 0.05, "prevalence of the subclass within its superclass in train and val", 0.005, 0.5),
    }

    def dataset_defaults(self, flag: str, target: dict) -> dict:
        if flag in _DEFAULT_SUBCLASS:
            return {"subclass": _DEFAULT_SUBCLASS[flag]}
        if flag.startswith("organ") and target.get("mapping"):
            from medstrata.data.info import class_names

            return {"subclass": class_names(flag).index("pancreas")}
        mapping = target.get("mapping") or []
        ones = [i for i, m in enumerate(mapping) if m == 1]
        return {"subclass": ones[-1] if ones else None}

    def assign(self, params: dict, state: BuildState) -> Assignment:
        if state.target["kind"] != "superclass":
            raise ImpossibleSpecError(
                f"rare_subclass needs a multi-class source with target=superclass; {state.flag} has "
                f"target={state.target['kind']} ({len(state.source_class_names)} official classes)"
            )
        sub, p = params["subclass"], params["p"]
        if sub is None or not 0 <= sub < len(state.source_class_names):
            raise ImpossibleSpecError(f"subclass={sub} is not an official class of {state.flag}")
        sup = int(state.target["mapping"][sub])
        if sum(1 for m in state.target["mapping"] if m == sup) < 2:
            raise ImpossibleSpecError(f"subclass {sub} is alone in its superclass; nothing to be rare within")
        is_sub = state.source_label == sub
        others = (state.clean_label == sup) & ~is_sub
        u = keyed_uniform(state.key, state.sample_ids, "rare_subclass.keep")
        keep = state.keep.copy()
        summary = {}
        for split in ("train", "val"):
            summary[split] = self._subsample(state, split, is_sub, others, p, u, keep)
        stratum = (is_sub & keep).astype(np.int64)
        n_test = int((stratum[state.split == "test"] == 1).sum())
        summary["test_members"] = n_test
        if n_test < 50:
            summary["warning"] = f"only {n_test} test members (< 50): metrics on this stratum are noisy"
        name = f"rare subclass {sub} ({state.source_class_names[sub]}) at p={p:g}"
        recorded = {int(i): {"subclass": sub, "p": p} for i in np.flatnonzero(stratum)}
        return Assignment(stratum=stratum, names={1: name}, keep=keep, sample_params=recorded, summary=summary)

    @staticmethod
    def _subsample(state, split, is_sub, others, p, u, keep) -> dict:
        members = state.index(split, is_sub)
        rest = state.index(split, others)
        n_s, n_o = len(members), len(rest)
        k = int(round(p * n_o / (1 - p)))
        if k > n_s:
            n_keep_other = int(round(n_s * (1 - p) / p))
            dropped = np.setdiff1d(rest, pick_smallest(u, rest, n_keep_other))
            keep[dropped] = False
            k, n_o = n_s, n_keep_other
        else:
            keep[np.setdiff1d(members, pick_smallest(u, members, k))] = False
        if k < 1:
            raise ImpossibleSpecError(
                f"p={p:g} keeps no subclass sample in {split} ({n_o} other superclass samples); "
                f"the smallest reachable p there is {1 / (1 + n_o):.4f}"
            )
        return {"kept_subclass": k, "superclass_others": n_o, "prevalence": k / (k + n_o), "available": n_s}
