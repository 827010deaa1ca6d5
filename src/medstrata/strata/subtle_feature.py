"""``subtle_feature``: a subgroup of one class whose class evidence is weak and local.

Models the *subtle distinguishing features* source of hidden stratification (Oakden-Rayner et al.:
e.g. a small pneumothorax). No earlier benchmark implements it (Domino's "noisy feature" slice is a
stub). REFERENCES.md shows why "subtle" cannot mean "degraded": blurring neutrophils made them
*easier* to recognise, because a degraded look is itself distinctive. Here subtle means **weaker
class evidence**:

    x' = (1 - strength) * x + strength * donor + contrast * ring

* ``donor`` is an image of *another* class from the same split (keyed choice, recorded), so as
  ``strength`` -> 1 the global appearance is that of the other class;
* ``ring`` is a faint annulus (a spherical shell in 3-D) of diameter ``pattern_size`` at a keyed
  position, added with amplitude ``contrast`` (grey levels). At high strength it is the only
  evidence of the true class: small, faint and in a different place in every image, like a subtle
  radiological sign.

``strength`` = 0 leaves the class evidence intact (only the ring is added); 1 leaves only the ring.
Members are the keyed ``fraction`` of the base group in every split (train, val and test); donors
never cross splits, so no test pixel enters train or val.

Defaults: ``strength`` 0.8, ``contrast`` 12, ``fraction`` 0.15; base group: bloodmnist -> neutrophil
(6) within the granulocytes, binary sources -> class 1.

Citation:
    Oakden-Rayner et al. CHIL 2020 (subtle distinguishing features).
"""

from __future__ import annotations

import numpy as np

from medstrata.errors import ImpossibleSpecError
from medstrata.hashing import keyed_rng, keyed_uniform
from medstrata.strata import register_stratum
from medstrata.strata.base import Assignment, BuildState, Injector, Param
from medstrata.strata.groups import GROUPS, group_mask, group_name

_DEFAULT_SUBCLASS = {"bloodmnist": 6}


def ring(shape: tuple[int, ...], center: tuple[float, ...], diameter: float) -> np.ndarray:
    """(*shape) float mask in [0, 1]: a soft annulus (shell in 3-D) of the given diameter."""
    grids = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")
    dist = np.sqrt(sum((g - c) ** 2 for g, c in zip(grids, center)))
    return np.clip(1.0 - np.abs(dist - diameter / 2) / 1.0, 0.0, 1.0)


@register_stratum("subtle_feature")
class SubtleFeature(Injector):
    params = {
        "strength": Param(float, 0.8, "how much of the class evidence is replaced by a donor of another class", 0.0, 1.0),
        "contrast": Param(float, 12.0, "amplitude of the faint local ring, in grey levels", 0.0, 128.0),
        "pattern_size": Param(int, 6, "ring diameter in pixels at 28 px (scaled with the image)", 2, 14),
        "fraction": Param(float, 0.15, "fraction of the base group that becomes subtle", 0.01, 1.0),
        "group": Param(str, None, "base group (dataset default)", choices=GROUPS, nullable=True),
        "subclass": Param(int, 0, "official label of the base group when group=subclass", low=0),
        "cls": Param(int, 1, "task class of the base group otherwise", low=0),
    }

    def dataset_defaults(self, flag: str, target: dict) -> dict:
        if target["kind"] == "superclass" and flag in _DEFAULT_SUBCLASS:
            return {"group": "subclass", "subclass": _DEFAULT_SUBCLASS[flag]}
        return {"group": "random", "fraction": 0.15}

    def assign(self, params: dict, state: BuildState) -> Assignment:
        frac = 1.0 if params["group"] == "random" else params["fraction"]
        g = (params["group"], params["subclass"], params["cls"], params["fraction"])
        base = group_mask(state, *g, purpose="subtle_feature.group")
        members = base & (keyed_uniform(state.key, state.sample_ids, "subtle_feature.member") < frac)
        size = state.images.shape[-2] if state.image_kind != "2d_rgb" else state.images.shape[1]
        recorded, summary = {}, {}
        for split in ("train", "val", "test"):
            idx = state.index(split, members)
            donors = state.index(split, ~members & (state.clean_label != state.clean_label[idx][0])) if len(idx) else idx
            if len(idx) and not len(donors):
                raise ImpossibleSpecError(f"subtle_feature needs donors of another class in {split}; there are none")
            for i in idx.tolist():
                recorded[i] = self._sample_params(params, state, i, donors, size)
            summary[split] = {"members": int(len(idx))}
        name = f"subtle feature (strength {params['strength']:g}) in {group_name(state, *g)}"
        return Assignment(stratum=members.astype(np.int64), names={1: name}, sample_params=recorded,
                          touched=np.flatnonzero(members), summary=summary)

    def _sample_params(self, params, state, i, donors, size) -> dict:
        rng = keyed_rng(state.key, state.sample_ids[i], "subtle_feature.sample")
        diameter = params["pattern_size"] * size / 28
        ndim = 3 if state.image_kind == "3d" else 2
        margin = diameter / 2 + 1
        center = [round(float(c), 3) for c in rng.uniform(margin, size - 1 - margin, size=ndim)]
        donor = state.sample_ids[donors[rng.integers(len(donors))]]
        return {"donor": str(donor), "strength": params["strength"], "contrast": params["contrast"],
                "center": center, "diameter": round(diameter, 3)}

    def apply(self, image: np.ndarray, p: dict, state: BuildState) -> np.ndarray:
        donor = state.images[state.position(p["donor"])].astype(np.float64)
        spatial = image.shape[:2] if state.image_kind == "2d_rgb" else image.shape
        pattern = ring(tuple(spatial), tuple(p["center"]), p["diameter"])
        if state.image_kind == "2d_rgb":
            pattern = pattern[..., None]
        s = p["strength"]
        out = (1 - s) * image.astype(np.float64) + s * donor + p["contrast"] * pattern
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
