"""``spurious_marker``: a visible artifact whose presence correlates with the label in train and val.

Models the *spurious correlate* source (Oakden-Rayner et al.: chest drains in pneumothorax) and the
artifact benchmarks (RWR-Gap, Pahde et al.). In train and val the marker M and the indicator
Y = [observed label == positive_class] have phi correlation ``rho``; in test M is independent of
the label (``test=independent``, marker rate ``test_marker_rate`` in every class) or the
correlation is reversed (``test=reversed``).

How ``rho`` is reached without dropping data: with label prevalence pi and marker rate q,
P(M|Y=1) = a and P(M|Y=0) = b satisfy a - b = rho * sqrt(q(1-q)) / sqrt(pi(1-pi)) and
q = pi*a + (1-pi)*b. By default q = pi (q = 1-pi for rho < 0), which reaches any |rho| <= 1.
A fixed ``marker_rate`` bounds |rho|; an unreachable value is an error that names the limit.
Exactly round(a*n1) positives and round(b*n0) negatives get the marker (smallest keyed draws).

Strata (the groups that go against the correlation): for rho >= 0, 1 = positive without marker,
2 = negative with marker (swapped for rho < 0). They exist in every split; in test they are large.

Default: ``rho`` = 0.9 with a 4x4 white corner square (measured on bloodmnist: a 13.7-point gap).

Citation:
    Oakden-Rayner et al. CHIL 2020 (spurious correlates).
    Eyuboglu et al. ICLR 2022 (correlation slices). Pahde et al. 2023 (artifact injection).
"""

from __future__ import annotations

import math

import numpy as np

from medstrata.errors import ImpossibleSpecError
from medstrata.hashing import keyed_rng, keyed_uniform
from medstrata.strata import register_stratum
from medstrata.strata.base import Assignment, BuildState, Injector, Param, pick_smallest
from medstrata.strata.markers import glyph_mask, line_mask, square_mask, stamp


def marker_rates(rho: float, pi: float, q: float | None) -> tuple[float, float]:
    """(P(M|Y=1), P(M|Y=0)) giving phi = rho at label prevalence pi and marker rate q."""
    if q is None:
        q = pi if rho >= 0 else 1 - pi
    d = rho * math.sqrt(q * (1 - q)) / math.sqrt(pi * (1 - pi))
    b = q - pi * d
    a = b + d
    if not (-1e-12 <= a <= 1 + 1e-12 and -1e-12 <= b <= 1 + 1e-12):
        lim = min(q / pi, (1 - q) / (1 - pi)) if rho >= 0 else min((1 - q) / pi, q / (1 - pi))
        limit = lim * math.sqrt(pi * (1 - pi)) / math.sqrt(q * (1 - q))
        raise ImpossibleSpecError(
            f"rho={rho:g} is unreachable with marker_rate={q:g} at label prevalence {pi:.3f}: "
            f"|rho| can be at most {limit:.3f} there"
        )
    return min(max(a, 0.0), 1.0), min(max(b, 0.0), 1.0)


@register_stratum("spurious_marker")
class SpuriousMarker(Injector):
    params = {
        "rho": Param(float, 0.9, "phi correlation of marker and label in train and val", -1.0, 1.0),
        "positive_class": Param(int, 1, "the task class the marker correlates with", low=0),
        "marker_rate": Param(float, None, "P(marker) in train/val (default: the label prevalence)", 0.01, 0.99, nullable=True),
        "test": Param(str, "independent", "marker in test: independent of the label, or reversed", choices=("independent", "reversed")),
        "test_marker_rate": Param(float, 0.5, "P(marker) in every class of test when independent", 0.05, 0.95),
        "shape": Param(str, "square", "corner square, drain-like line, or text glyph", choices=("square", "line", "glyph")),
        "marker_size": Param(int, 4, "marker size in pixels at 28 px (scaled with the image)", 1, 12),
        "intensity": Param(int, 255, "pixel value of the marker", 0, 255),
    }

    def assign(self, params: dict, state: BuildState) -> Assignment:
        if params["positive_class"] >= state.n_classes:
            raise ImpossibleSpecError(f"positive_class={params['positive_class']} but the task has {state.n_classes} classes")
        y = state.label == params["positive_class"]
        u = keyed_uniform(state.key, state.sample_ids, "spurious_marker.assign")
        marker = np.zeros(len(y), dtype=bool)
        summary = {}
        for split in ("train", "val", "test"):
            rates = self._rates(params, split, y, state)
            for cls, rate in ((True, rates[0]), (False, rates[1])):
                idx = state.index(split, y == cls)
                marker[pick_smallest(u, idx, int(round(rate * len(idx))))] = True
            summary[split] = {"p_marker_pos": rates[0], "p_marker_neg": rates[1]}
        against = ~marker if params["rho"] >= 0 else marker
        stratum = np.where(y & against, 1, np.where(~y & ~against, 2, 0)) * state.keep
        recorded = {i: self._sample_params(params, state, i, bool(marker[i])) for i in state.index()}
        names = self._names(params, state)
        return Assignment(stratum=stratum.astype(np.int64), names=names, sample_params=recorded,
                          touched=np.flatnonzero(marker & state.keep), summary=summary)

    @staticmethod
    def _rates(params: dict, split: str, y: np.ndarray, state: BuildState) -> tuple[float, float]:
        if split == "test" and params["test"] == "independent":
            return params["test_marker_rate"], params["test_marker_rate"]
        idx = state.index(split)
        pi = float(y[idx].mean()) if len(idx) else 0.0
        if not 0 < pi < 1:
            raise ImpossibleSpecError(f"{split} has only one class for positive_class={params['positive_class']}; no correlation can be set")
        rho = -params["rho"] if split == "test" else params["rho"]
        q = None if split == "test" else params["marker_rate"]
        return marker_rates(rho, pi, q)

    @staticmethod
    def _names(params: dict, state: BuildState) -> dict[int, str]:
        pos = state.class_names[params["positive_class"]]
        if params["rho"] >= 0:
            return {1: f"{pos} without marker", 2: f"not {pos} with marker"}
        return {1: f"{pos} with marker", 2: f"not {pos} without marker"}

    @staticmethod
    def _sample_params(params: dict, state: BuildState, i: int, has_marker: bool) -> dict:
        if not has_marker:
            return {"marker": 0}
        size = int(state.images.shape[-2] if state.image_kind != "2d_rgb" else state.images.shape[1])
        s = max(1, round(params["marker_size"] * size / 28))
        rec = {"marker": 1, "shape": params["shape"], "size_px": s, "intensity": params["intensity"]}
        if params["shape"] == "line":
            r = keyed_rng(state.key, state.sample_ids[i], "spurious_marker.line").uniform(0.1, 0.9, size=2)
            rec.update(start=[round(float(r[0]), 4), 0.0], end=[1.0, round(float(r[1]), 4)], width=max(1, s // 3))
        return rec

    def apply(self, image: np.ndarray, p: dict, state: BuildState) -> np.ndarray:
        hw = image.shape[:2] if state.image_kind != "3d" else image.shape[1:]
        if p["shape"] == "square":
            mask = square_mask(hw, p["size_px"])
        elif p["shape"] == "glyph":
            mask = glyph_mask(hw, p["size_px"])
        else:
            mask = line_mask(hw, p["width"], tuple(p["start"]), tuple(p["end"]))
        return stamp(image, mask, p["intensity"], state.image_kind)
