"""``subtle_feature``: a subgroup of one class whose class evidence is weak and local.

Models the *subtle distinguishing features* source of hidden stratification (Oakden-Rayner et al.:
e.g. a small pneumothorax). No earlier benchmark implements it (Domino's "noisy feature" slice is a
stub). REFERENCES.md shows why "subtle" cannot mean "degraded": blurring neutrophils made them
*easier* to recognise, because a degraded look is itself distinctive. Here subtle means **weaker
class evidence**, and issue 6 adds: without blending artefacts, watermark or a global statistic that
gives the member away. A member's fine structure is swapped for that of a donor of another class,
and the result gets back the member's own histogram:

    y  = G_sigma(x) + sum_b g_b * band_b(donor),   g_b = ||band_b(x)|| / ||band_b(donor)||
    x' = the member's own pixel values, re-ordered by the rank of y   (exact histogram specification)

* ``G_sigma`` is a Gaussian low-pass, ``sigma = 12 * strength`` px at 28 px (scaled with the image;
  per channel for RGB, over all three axes in 3-D). The member keeps only its coarse layout (below
  ``sigma``); its detail (nuclear lobes and granules of a neutrophil, the opacities of a pneumonia
  at this resolution) is replaced by the detail of an image of another class, so the class evidence
  that remains is weak and coarse, like a sign that is barely visible.
* ``band_b`` are the octave bands of detail between ``G_sigma`` and the full image (a Laplacian
  pyramid without subsampling); ``g_b`` gives the new detail the member's own energy in every band
  *of the final image* (refined over 4 rounds of histogram and band matching, Heeger & Bergen), so
  gradient energy, Laplacian variance and local contrast stay near the member's own.
* Exact histogram specification makes the multiset of pixel values (per channel) *identical* to the
  member's: mean, std, min, max, every percentile, saturation and entropy do not move at all.
* ``donor`` (recorded) is, among 64 keyed candidates from the non-members of another class in the
  same split, the one whose coarse layout (7x7 block means) is closest to the member's, so the
  borrowed detail sits where the member's own structure is (no ghost edges). Donors never cross
  splits, so no test pixel enters train or val.

* **Decoys** (``decoys=true``): at the members' rate, non-members of *every* class get the same
  rewrite with a donor of their *own* class (recorded with ``"decoy": true``, stratum 0). Without
  them the rewrite's own look is a cue that only class-1 images carry, and the model learns it as
  class evidence (measured: pneumonia, no decoys, strength 0.5 and 1.0: val gaps 7.7 and 3.7
  points). With decoys the look predicts nothing; what is missing in members is the evidence.

``strength`` = 0 leaves the image unchanged; 1 keeps only the member's coarsest layout and its
histogram. Members are the keyed ``fraction`` of the base group in every split (train, val and test).
Base group: a keyed random 15 % of class 1 on every source. (A subclass base group, e.g. the
neutrophils, carries the subclass's *natural* statistics: neutrophils vs the other granulocytes
already give c1.kurtosis AUROC 0.81 on val with every histogram preserved, so a reviewer could not
tell the construction from the subclass; ``group=subclass`` stays available.)
Defaults (strength 0.5, i.e. sigma 6 px at 28 px; fraction 0.15; decoys on; histogram 0) chosen on
val of development seeds 100-101 (benchmark/decisions.md, "## Injectors", I5-I6). Measured harm of
the reference model on val is 7-9 points (pneumoniamnist 7.8, bloodmnist 7.0 at seed 100), *below*
the 10-point bar of the suite's harm gate: the members keep their coarse layout and histogram, and
the model still reads them. Stronger settings did not help (strength 1.0: 8.7 and 3.1 points).
Per-task settings of the quick suite (decisions.md I9-I10, dev val seed 100): on bloodmnist class 3
``histogram=1.0`` (the member takes its donor's exact pixel values: staining is most of a 28-px
cell's class evidence) gives 66.1 points with shortcut AUROC <= 0.70 on seeds 100-102, against 8.1
with the own histogram; on organamnist's liver ``strength=1.0`` gives 13.0 points (shortcut 0.57),
while the donor's histogram would give it away (any other organ: frac_saturated AUROC ~0.95).
``donor_cls`` restricts donors to one class (null: any other class); on bloodmnist class 3 donors
from monocytes only hurt *less* (1.5 points), so it stays null.

Citation:
    Oakden-Rayner et al. CHIL 2020 (subtle distinguishing features).
    Heeger & Bergen. Pyramid-based texture analysis/synthesis. SIGGRAPH 1995 (alternating histogram
    and sub-band matching).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medstrata.errors import ImpossibleSpecError
from medstrata.hashing import keyed_rng, keyed_uniform
from medstrata.strata import register_stratum
from medstrata.strata.base import Assignment, BuildState, Injector, Param
from medstrata.strata.groups import GROUPS, group_mask, group_name

_CANDIDATES = 64
_ROUNDS = 4


def _bands(x: np.ndarray, sigma: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """For a batch (n, *spatial): ``G_sigma(x)`` and the detail bands between it and ``x``
    (octaves sigma, sigma/2, ... > 0.35; no smoothing across the batch axis)."""
    sigmas = [sigma]
    while sigmas[-1] / 2 > 0.35:
        sigmas.append(sigmas[-1] / 2)
    lows = [ndimage.gaussian_filter(x, (0,) + (s,) * (x.ndim - 1), mode="reflect") for s in sigmas] + [x]
    return lows[0], [lows[j + 1] - lows[j] for j in range(len(sigmas))]


def _energy(bands: list[np.ndarray]) -> np.ndarray:
    """(n_bands, n) energy of every band of every image."""
    return np.stack([(b**2).reshape(len(b), -1).sum(axis=1) for b in bands])


def match_histogram(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Batch (n, ...): each ``values[i]``'s multiset of values re-ordered by the ranks of ``target[i]``.

    ``values`` may also be (n, P) values already sorted per row. Ties in ``target`` are broken by
    position (stable sort), so the result is deterministic.
    """
    n = len(target)
    order = np.argsort(target.reshape(n, -1), axis=1, kind="stable")
    out = np.empty((n, order.shape[1]), dtype=values.dtype)
    np.put_along_axis(out, order, np.sort(values.reshape(n, -1), axis=1, kind="stable"), axis=1)
    return out.reshape(target.shape)


def swap_detail(images: np.ndarray, donors: np.ndarray, sigma: float, histogram: float = 0.0,
                rounds: int = _ROUNDS) -> np.ndarray:
    """Batch (n, *spatial) uint8: each image's own values arranged as ``G_sigma(image)`` plus its
    donor's detail.

    Each octave band of the donor's detail is scaled so that, *after* the exact histogram
    specification, the band has the image's energy in it (gains refined over ``rounds`` rounds, as
    in Heeger & Bergen's alternation of histogram and sub-band matching). ``histogram`` > 0 mixes
    that share of the donor's quantile function into the image's own (0: the exact own histogram).
    """
    n = len(images)
    own = np.sort(images.reshape(n, -1), axis=1)
    values = own if histogram <= 0 else np.rint((1 - histogram) * own + histogram * np.sort(
        donors.reshape(n, -1), axis=1)).astype(np.uint8)
    low, bands_x = _bands(images.astype(np.float64), sigma)
    _, bands_d = _bands(donors.astype(np.float64), sigma)
    target = _energy(bands_x)
    gain = np.sqrt(target / np.maximum(_energy(bands_d), 1e-12))
    shape = (-1,) + (1,) * (images.ndim - 1)

    def compose(g: np.ndarray) -> np.ndarray:
        return match_histogram(values, low + sum(gj.reshape(shape) * b for gj, b in zip(g, bands_d)))

    for _ in range(rounds):
        got = _energy(_bands(compose(gain).astype(np.float64), sigma)[1])
        gain = gain * target / np.maximum(got, 1e-12)
    return compose(gain)


def coarse_layout(images: np.ndarray, image_kind: str) -> np.ndarray:
    """(n, d) float64 block means on a 7-per-axis grid: the coarse layout used to pick donors."""
    spatial = images.shape[1:3] if image_kind == "2d_rgb" else images.shape[1:]
    b = max(1, spatial[0] // 7)
    m = 7 * b if spatial[0] >= 7 else spatial[0]
    x = images[(slice(None),) + (slice(0, m),) * len(spatial)].astype(np.float64)
    shape = [len(x)]
    for _ in spatial:
        shape += [m // b, b]
    if image_kind == "2d_rgb":
        shape.append(x.shape[-1])
    x = x.reshape(shape).mean(axis=tuple(2 + 2 * a for a in range(len(spatial))))
    return x.reshape(len(x), -1)


class _PoolsByClass:
    """Candidate positions of one split, computed once per class of the sample asking for them.

    ``get(cls, mask_fn)`` returns ``state.index(split, base & mask_fn())`` and caches it under
    ``cls``: every rule that picks a member's candidates depends on the member only through its
    class, so one O(n) scan per class replaces one per member (OrganAMNIST: ~10k scans of 58k rows).
    """

    def __init__(self, state: BuildState, split: str, base: np.ndarray) -> None:
        self.state, self.split, self.base, self.cache = state, split, base, {}

    def get(self, cls: int, mask_fn) -> np.ndarray:
        key = int(cls)
        if key not in self.cache:
            self.cache[key] = self.state.index(self.split, self.base & mask_fn())
        return self.cache[key]


@register_stratum("subtle_feature")
class SubtleFeature(Injector):
    order = 30  # canonical application order, see medstrata.strata.canonical_order
    knob, severities, multiclass_only = "strength", (0.25, 0.5, 0.75, 1.0), False  # sigma = 12 * strength px at 28 px
    params = {
        "strength": Param(float, 0.5, "scale below which detail is swapped for another class's (sigma = 12*strength px at 28 px)", 0.0, 1.0),
        "histogram": Param(float, 0.0, "share of the donor's quantile function mixed into the member's own (0 = exact own histogram)", 0.0, 1.0),
        "decoys": Param(bool, True, "give the same rewrite, with a same-class donor, to as many non-members of every class"),
        "fraction": Param(float, 0.15, "fraction of the base group that becomes subtle", 0.01, 1.0),
        "group": Param(str, None, "base group (dataset default)", choices=GROUPS, nullable=True),
        "subclass": Param(int, 0, "official label of the base group when group=subclass", low=0),
        "cls": Param(int, 1, "task class of the base group otherwise", low=0),
        "donor_cls": Param(int, None, "task class the donors come from (null: any other class)", low=0, nullable=True),
        "train_fraction": Param(float, None, "fraction of the base group that is subtle in train only (null: "
                                "`fraction`); must not exceed `fraction`: a subgroup rarer in training than at "
                                "validation and test", 0.0, 1.0, nullable=True, added_later=True),
    }

    def dataset_defaults(self, flag: str, target: dict) -> dict:
        return {"group": "random", "fraction": 0.15}

    def assign(self, params: dict, state: BuildState) -> Assignment:
        frac = 1.0 if params["group"] == "random" else params["fraction"]
        g = (params["group"], params["subclass"], params["cls"], params["fraction"])
        base = group_mask(state, *g, purpose="subtle_feature.group")
        members = base & (keyed_uniform(state.key, state.sample_ids, "subtle_feature.member") < frac)
        members = self._thin_train(params, state, members)
        size = state.images.shape[-2] if state.image_kind != "2d_rgb" else state.images.shape[1]
        decoys = self._decoys(params, state, members)
        coarse = coarse_layout(state.images, state.image_kind) if members.any() else None
        recorded, summary = {}, {}
        for split in ("train", "val", "test"):
            idx = state.index(split, members)
            pool = _PoolsByClass(state, split, ~members)
            for i in idx.tolist():
                other = pool.get(state.clean_label[i], lambda: self._donor_class(params, state, i))
                if not len(other):
                    raise ImpossibleSpecError(f"subtle_feature needs donors of class "
                                              f"{params['donor_cls'] if params['donor_cls'] is not None else '(another)'} "
                                              f"in {split}; there are none")
                recorded[i] = self._sample_params(params, state, i, other, size, coarse)
            same_pool = _PoolsByClass(state, split, ~members)
            for i in state.index(split, decoys).tolist():
                same = same_pool.get(state.clean_label[i], lambda: state.clean_label == state.clean_label[i])
                recorded[i] = {**self._sample_params(params, state, i, same[same != i], size, coarse), "decoy": True}
            summary[split] = {"members": int(len(idx)), "decoys": int(len(state.index(split, decoys)))}
        name = f"subtle feature (strength {params['strength']:g}) in {group_name(state, *g)}"
        if self.param(params, "train_fraction") is not None:
            name += f" ({self.param(params, 'train_fraction'):g} in train)"
        return Assignment(stratum=members.astype(np.int64), names={1: name}, sample_params=recorded,
                          touched=np.flatnonzero(members | decoys), summary=summary)

    def _thin_train(self, params: dict, state: BuildState, members: np.ndarray) -> np.ndarray:
        """(n,) bool ``members`` with train members kept at ``train_fraction / fraction`` (a keyed draw
        of its own), so the subgroup is a ``train_fraction`` share of the base class in train and a
        ``fraction`` share in val and test. Thinned train samples stay ordinary, untouched images."""
        tf = self.param(params, "train_fraction")
        if tf is None:
            return members
        if tf > params["fraction"]:
            raise ImpossibleSpecError(f"subtle_feature train_fraction={tf:g} exceeds fraction={params['fraction']:g}")
        keep = keyed_uniform(state.key, state.sample_ids, "subtle_feature.train_thin") < tf / params["fraction"]
        return members & ((state.split != "train") | keep)

    @staticmethod
    def _donor_class(params: dict, state: BuildState, i: int) -> np.ndarray:
        """(n,) bool: samples whose class may give member ``i`` its detail."""
        own, want = state.clean_label[i], params["donor_cls"]
        if want is None:
            return state.clean_label != own
        if want == own:
            raise ImpossibleSpecError(f"subtle_feature donor_cls={want} is the members' own class")
        return state.clean_label == want

    @staticmethod
    def _decoys(params: dict, state: BuildState, members: np.ndarray) -> np.ndarray:
        """(n,) bool: non-members that get the same rewrite with a donor of their *own* class, at the
        members' rate within the base class, in every class (none with ``decoys=false``)."""
        if not params["decoys"] or not members.any():
            return np.zeros(len(members), dtype=bool)
        base_cls = int(np.bincount(state.clean_label[members]).argmax())
        in_base = state.keep & (state.clean_label == base_cls)
        rate = float(members[in_base].mean())
        u = keyed_uniform(state.key, state.sample_ids, "subtle_feature.decoy")
        return state.keep & ~members & (u < rate)

    def _sample_params(self, params, state, i, donors, size, coarse) -> dict:
        rng = keyed_rng(state.key, state.sample_ids[i], "subtle_feature.sample")
        cand = donors[np.sort(rng.choice(len(donors), size=min(_CANDIDATES, len(donors)), replace=False))]
        dist = ((coarse[cand] - coarse[i]) ** 2).sum(axis=1)
        donor = state.sample_ids[cand[int(np.argmin(dist))]]
        return {"donor": str(donor), "strength": params["strength"],
                "sigma": round(12.0 * params["strength"] * size / 28, 4), "histogram": params["histogram"]}

    def apply(self, image: np.ndarray, p: dict, state: BuildState) -> np.ndarray:
        return self.apply_batch(image[None], [p], state)[0]

    def apply_batch(self, images: np.ndarray, params: list[dict], state: BuildState) -> np.ndarray:
        """(n, ...) uint8 members -> rewritten members, vectorised per value of ``sigma``."""
        out = images.copy()
        for sigma, hist in sorted({(p["sigma"], p.get("histogram", 0.0)) for p in params}):
            rows = [j for j, p in enumerate(params) if (p["sigma"], p.get("histogram", 0.0)) == (sigma, hist)]
            if sigma <= 0:
                continue
            donors = state.images[[state.position(params[j]["donor"]) for j in rows]]
            out[rows] = _swap_in_chunks(images[rows], donors, sigma, hist, state.image_kind)
        return out


#: Images per :func:`swap_detail` call: every step of it is per image, so chunking changes no byte;
#: chunks keep the float64 band stacks in cache and run on two threads (numpy and ndimage release
#: the GIL).
_CHUNK = 256


def _swap_in_chunks(x: np.ndarray, donors: np.ndarray, sigma: float, hist: float, image_kind: str) -> np.ndarray:
    """(n, ...) uint8 members and their donors -> :func:`swap_detail` of every member (per channel
    for RGB), computed in chunks of :data:`_CHUNK` images on up to two threads."""
    from concurrent.futures import ThreadPoolExecutor

    def one(start: int) -> np.ndarray:
        xs, ds = x[start: start + _CHUNK], donors[start: start + _CHUNK]
        if image_kind == "2d_rgb":
            return np.stack([swap_detail(xs[..., c], ds[..., c], sigma, hist) for c in range(xs.shape[-1])], axis=-1)
        return swap_detail(xs, ds, sigma, hist)

    starts = range(0, len(x), _CHUNK)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return np.concatenate(list(pool.map(one, starts)), axis=0) if len(x) else x.copy()
