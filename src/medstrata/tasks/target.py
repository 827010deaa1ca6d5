"""Which label a task predicts: the official label, a documented superclass, or "any finding".

Superclass mappings (documented defaults, chosen so that each superclass holds several visually
different subclasses, which is what makes a rare or noisy subclass a *hidden* stratum):

* **bloodmnist**: 1 = granulocytes {basophil, eosinophil, immature granulocytes, neutrophil};
  0 = everything else {erythroblast, lymphocyte, monocyte, platelet}.
* **organ{a,c,s}mnist, organmnist3d**: 1 = solid abdominal organs {kidney-left, kidney-right, liver,
  pancreas, spleen}; 0 = the rest {bladder, femur-left, femur-right, heart, lung-left, lung-right}.
  Mapped by class *name*, because organmnist3d numbers its classes differently.
* Any other multi-class flag: classes ``0 .. ceil(K/2)-1`` form superclass 0, the rest superclass 1.

``any_finding`` (multi-label chestmnist): 1 if any of the 14 findings is present, else 0.
"""

from __future__ import annotations

import math

import numpy as np

from medstrata.data import info as minfo
from medstrata.errors import SpecError

TARGETS = ("official", "superclass", "any_finding")

_SUPER_BY_NAME = {
    "bloodmnist": (
        ["non-granulocyte", "granulocyte"],
        ["basophil", "eosinophil", "immature granulocytes", "neutrophil"],
    ),
    "organ": (
        ["other organ", "solid abdominal organ"],
        ["kidney-left", "kidney-right", "liver", "pancreas", "spleen"],
    ),
}


def default_target(flag: str) -> str:
    meta = minfo.info(flag)
    if meta["task"].startswith("multi-label"):
        return "any_finding"
    if flag == "bloodmnist" or flag.startswith("organ"):
        return "superclass"
    return "official"


def superclass_groups(flag: str) -> tuple[list[str], list[int]]:
    """(superclass names, mapping source label -> superclass) for a multi-class flag."""
    names = minfo.class_names(flag)
    key = "organ" if flag.startswith("organ") else flag
    if key in _SUPER_BY_NAME:
        sup_names, members = _SUPER_BY_NAME[key]
        return list(sup_names), [int(any(n.startswith(m) for m in members)) for n in names]
    half = math.ceil(len(names) / 2)
    return ["classes 0-%d" % (half - 1), "classes %d-%d" % (half, len(names) - 1)], [
        int(i >= half) for i in range(len(names))
    ]


def resolve_target(flag: str, target: str | None) -> dict:
    """Resolved target block of a task spec: ``{"kind", "class_names", "mapping"}``."""
    target = target or default_target(flag)
    meta = minfo.info(flag)
    multilabel = meta["task"].startswith("multi-label")
    if target not in TARGETS:
        raise SpecError(f"unknown target {target!r}; valid targets: {', '.join(TARGETS)}")
    if multilabel != (target == "any_finding"):
        raise SpecError(f"target={target} does not fit {flag} ({meta['task']}); use target={default_target(flag)}")
    if target == "official":
        return {"kind": "official", "class_names": minfo.class_names(flag), "mapping": None}
    if target == "any_finding":
        return {"kind": "any_finding", "class_names": ["no finding", "any finding"], "mapping": None}
    if len(meta["label"]) < 3:
        raise SpecError(f"target=superclass needs a multi-class source; {flag} has {len(meta['label'])} classes")
    names, mapping = superclass_groups(flag)
    return {"kind": "superclass", "class_names": names, "mapping": mapping}


def map_labels(raw: np.ndarray, target: dict) -> np.ndarray:
    """Task labels from official labels.

    Args:
        raw: (n, L) uint8 official labels.
    Returns:
        (n,) int64 task labels.
    """
    if target["kind"] == "any_finding":
        return (raw.max(axis=1) > 0).astype(np.int64)
    first = raw[:, 0].astype(np.int64)
    if target["kind"] == "official":
        return first
    return np.asarray(target["mapping"], dtype=np.int64)[first]
