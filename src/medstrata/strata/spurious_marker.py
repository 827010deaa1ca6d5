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
``strata=positive`` keeps stratum 1 only, the clinically important group of Oakden-Rayner et al.'s
example (pneumothorax *without* a chest drain); sub-stratum 2 then counts as a non-member. Added in
session 5 after the bloodmnist superclass task's tagged non-granulocytes kept failing the harm gate
on dev val (10.8 pts, t-interval [-26.1, 47.6] at rho 0.95: their own look outweighs a tag); with it
the granulocytes without the tag still failed the shortcut gate on a redraw (0.784 / 0.815 at rho
0.95 / 0.9, 17-40 val members), so the quick suite has no marker task (decisions.md I11).

Design (issue 6: a marker must be learnable but no global statistic may give it away):
* **Every image carries a tag** (``distractors=true``): images with the marker M get the spurious
  tag glyph ``tag`` ("P", a portable-film token), the others get a distractor glyph
  ``distractor`` ("R", a laterality token) of the same ink on the 5x3 grid (within 4 pixels after
  scaling to 8-12 px), drawn from the *same* distributions of
  size, position, intensity and opacity. Only the tag's shape carries the spurious cue, as in real
  films where tokens, leads and lines are everywhere but one kind tracks the label (Zech et al.).
* **Intensity from the image's own range**: the tag colour is the image's own level (per channel) at a
  keyed quantile in [0, 0.03] (dark tag) or [0.97, 1] (bright tag), so the image's min and max
  never change.
* **Opacity** ``conspicuity * U(0.6, 1)``: ``conspicuity`` (default 1) is the knob from barely
  visible (0.1) to a solid tag (1).
* **Size and position vary**: glyph height a keyed integer in [``marker_size``, 1.5 ``marker_size``]
  px at 28 px (scaled with the image; strokes of 1-2 px at the default 8, thick enough for a small
  CNN to read the shape), anywhere in the periphery (the box within 1/7 of the image size of an
  edge, where tokens sit on a film); in 3-D through every depth slice.

Promise: outside the tag's mask every pixel is byte-identical to the input image. With
``distractors=false`` images without M are untouched (the per-image statistics then differ between
marked and unmarked images: a shortcut, so that setting is for ablations only).

Defaults (rho 0.9, tags "P"/"R", conspicuity 1, marker_size 8) chosen on val of development seeds
100-101 (benchmark/decisions.md, "## Injectors", I1-I3 and I6): a solid corner square gave
max-pixel AUROC 1.0; these tags give <= 0.69 on val and still hurt (bloodmnist val seed 100:
17.7 points for positives without the tag).

Citation:
    Oakden-Rayner et al. CHIL 2020 (spurious correlates).
    Zech et al. PLoS Medicine 2018 (CNNs read hospital tokens on radiographs).
    Eyuboglu et al. ICLR 2022 (correlation slices). Pahde et al. 2023 (artifact injection).
"""

from __future__ import annotations

import math

import numpy as np

from medstrata.errors import ImpossibleSpecError
from medstrata.hashing import keyed_rng, keyed_uniform
from medstrata.strata import register_stratum
from medstrata.strata.base import Assignment, BuildState, Injector, Param, pick_smallest
from medstrata.strata.markers import GLYPHS, blend, glyph, tag_mask


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
    order = 40  # canonical application order, see medstrata.strata.canonical_order
    knob, severities, multiclass_only = "rho", (0.5, 0.7, 0.9, 0.99), False
    params = {
        "rho": Param(float, 0.9, "phi correlation of marker and label in train and val", -1.0, 1.0),
        "positive_class": Param(int, 1, "the task class the marker correlates with", low=0),
        "marker_rate": Param(float, None, "P(marker) in train/val (default: the label prevalence)", 0.01, 0.99, nullable=True),
        "test": Param(str, "independent", "marker in test: independent of the label, or reversed", choices=("independent", "reversed")),
        "test_marker_rate": Param(float, 0.5, "P(marker) in every class of test when independent", 0.05, 0.95),
        "tag": Param(str, "P", "glyph of the spurious tag", choices=tuple(GLYPHS)),
        "distractor": Param(str, "R", "glyph of the same-ink tag on images without the marker", choices=tuple(GLYPHS)),
        "distractors": Param(bool, True, "put a distractor tag on every image without the marker"),
        "conspicuity": Param(float, 1.0, "maximal opacity of the tag (opacity = conspicuity * U(0.6, 1))", 0.05, 1.0),
        "marker_size": Param(int, 8, "smallest tag height in px at 28 px (scaled; keyed height in [size, 1.5 size])", 5, 14),
        "strata": Param(str, "both", "groups against the correlation that are strata: both, or only the "
                        "positive class's (stratum 1)", choices=("both", "positive"), added_later=True),
    }

    def assign(self, params: dict, state: BuildState) -> Assignment:
        if params["positive_class"] >= state.n_classes:
            raise ImpossibleSpecError(f"positive_class={params['positive_class']} but the task has {state.n_classes} classes")
        if params["distractors"] and params["tag"] == params["distractor"]:
            raise ImpossibleSpecError(f"tag and distractor are both {params['tag']!r}: the marker would carry no cue")
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
        both = self.param(params, "strata") == "both"
        stratum = np.where(y & against, 1, np.where(~y & ~against & both, 2, 0)) * state.keep
        recorded = {i: self._sample_params(params, state, i, bool(marker[i])) for i in state.index()}
        names = self._names(params, state)
        if not both:
            names = {1: names[1]}
        touched = np.asarray([i for i, r in recorded.items() if "glyph" in r], dtype=np.int64)
        return Assignment(stratum=stratum.astype(np.int64), names=names, sample_params=recorded,
                          touched=touched, summary=summary)

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
        if not has_marker and not params["distractors"]:
            return {"marker": 0}
        image = state.images[i]
        hw = image.shape[:2] if state.image_kind != "3d" else image.shape[1:]
        rng = keyed_rng(state.key, state.sample_ids[i], "spurious_marker.tag")
        size = params["marker_size"] * min(hw) / 28
        height = int(rng.integers(max(5, round(size)), max(5, round(1.5 * size)) + 1))
        name = params["tag"] if has_marker else params["distractor"]
        h, w = glyph(name, height).shape
        row, col = _peripheral_position(rng, hw, (h, w))
        q = float(rng.uniform(0.0, 0.03)) if rng.random() < 0.5 else float(rng.uniform(0.97, 1.0))
        opacity = round(params["conspicuity"] * float(rng.uniform(0.6, 1.0)), 4)
        return {"marker": int(has_marker), "glyph": name, "height": height, "row": row, "col": col,
                "value": _own_value(image, state.image_kind, q), "opacity": opacity}

    def apply(self, image: np.ndarray, p: dict, state: BuildState) -> np.ndarray:
        hw = image.shape[:2] if state.image_kind != "3d" else image.shape[1:]
        mask = tag_mask(hw, p["glyph"], p["height"], p["row"], p["col"])
        return blend(image, mask, p["value"], p["opacity"], state.image_kind)


def _peripheral_position(rng: np.random.Generator, hw: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of a ``box`` placed uniformly among the positions within ``hw // 7`` pixels of
    an image edge (tags sit in the periphery of a film, not over the anatomy); rejection-sampled."""
    (hh, ww), (h, w) = hw, box
    band = max(1, min(hh, ww) // 7)
    for _ in range(1000):
        row, col = int(rng.integers(0, hh - h + 1)), int(rng.integers(0, ww - w + 1))
        if row <= band or col <= band or row >= hh - h - band or col >= ww - w - band:
            return row, col
    return 0, 0


def _own_value(image: np.ndarray, image_kind: str, q: float):
    """The image's own level at quantile ``q`` (per channel for RGB): an int, or a list of 3."""
    flat = image.reshape(-1, 3).T if image_kind == "2d_rgb" else image.reshape(1, -1)
    k = min(int(q * flat.shape[1]), flat.shape[1] - 1)
    values = [int(np.partition(c, k)[k]) for c in flat]
    return values if image_kind == "2d_rgb" else values[0]
