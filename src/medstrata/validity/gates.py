"""The two gates a suite task must pass, and the dose-response check.

* **Harm gate**: for every stratum of the task, the mean within-class gap over seeds (see
  :mod:`medstrata.validity.harm`) is at least :data:`HARM_MIN` (10 accuracy points) **and** the lower
  bound of its 95 % Student-t interval over seeds is above 0. A stratum that is not harmful is not
  a hidden stratum a discovery method should find.
* **Shortcut gate**: for every stratum that MedStrata *constructs* (a marker, a subtle feature, a
  constructed noise group), the best within-class AUROC of the global-statistic battery
  (:func:`medstrata.validity.shortcuts.shortcut_auroc`, the worst case over seeds) is at most
  :data:`SHORTCUT_MAX` (0.75). Natural strata made from official subclasses (``rare_subclass``,
  ``label_noise`` with ``group=subclass``) report the figure but are not gated: a real subclass may
  well differ in brightness, and that is the data, not an artefact of ours.
* **Dose-response** (reported, not gated): the mean gap at the kind's severities, ordered from mild to
  severe as the kind declares (``medstrata.strata.declaration``), is monotone when every step is non-decreasing within a
  tolerance of :data:`DOSE_TOLERANCE` (2 points, about the seed noise of one gap); Spearman's rho is
  reported too.

A task that fails a gate is left out of a suite run, loudly: the reason is printed and written to
the run folder (``validity.md``/``validity.json``).
"""

from __future__ import annotations

import math

import numpy as np

HARM_MIN = 0.10
SHORTCUT_MAX = 0.75
DOSE_TOLERANCE = 0.02

#: Strata made from official subclasses: the shortcut figure is reported, not gated.
NATURAL = "natural"
CONSTRUCTED = "constructed"


def origin(kind: str, params: dict) -> str:
    """``natural`` for strata that are official subclasses, else ``constructed``."""
    if kind == "rare_subclass":
        return NATURAL
    if kind == "label_noise" and params.get("group") == "subclass":
        return NATURAL
    return CONSTRUCTED


def harm_failure(harm: dict) -> str | None:
    """Reason the harm gate fails for one stratum (``harm`` from :func:`~medstrata.validity.harm.t_interval`), or None."""
    mean, low = harm.get("mean", float("nan")), harm.get("low", float("nan"))
    if not math.isfinite(mean):
        return "harm not measurable (no class holds both members and non-members on val)"
    if mean < HARM_MIN:
        return f"harm {100 * mean:.1f} pts < {100 * HARM_MIN:.0f} pts"
    if not math.isfinite(low):
        return f"harm {100 * mean:.1f} pts but no interval (needs >= 2 seeds)"
    if low <= 0:
        return f"harm interval lower bound {100 * low:.1f} pts <= 0"
    return None


def shortcut_failure(best_auroc: float, statistic: str | None, stratum_origin: str) -> str | None:
    """Reason the shortcut gate fails for one stratum, or None (natural strata never fail it)."""
    if stratum_origin == NATURAL:
        return None
    if not math.isfinite(best_auroc):
        return "shortcut AUROC not measurable (too few members or non-members within a class on val)"
    if best_auroc > SHORTCUT_MAX:
        return f"shortcut: {statistic} separates members with AUROC {best_auroc:.3f} > {SHORTCUT_MAX}"
    return None


def dose_monotone(gaps: list[float]) -> dict:
    """Monotonicity of mean gaps ordered from mild to severe.

    Args:
        gaps: (n_severities,) mean gap per severity, mild first.

    Returns:
        {"monotone": bool, "spearman": float}; ``monotone`` allows steps down of up to DOSE_TOLERANCE.
    """
    from scipy.stats import spearmanr

    g = np.asarray(gaps, dtype=np.float64)
    if len(g) < 2 or not np.all(np.isfinite(g)):
        return {"monotone": False, "spearman": float("nan")}
    rho = float(spearmanr(np.arange(len(g)), g).statistic) if np.ptp(g) > 0 else float("nan")
    return {"monotone": bool(np.all(np.diff(g) >= -DOSE_TOLERANCE)), "spearman": rho}


def task_failures(strata_cards: list[dict]) -> list[str]:
    """Every gate failure of a task, as ``"<stratum name>: <reason>"``; empty when the task passes."""
    out = []
    for s in strata_cards:
        for reason in (harm_failure(s["harm"]),
                       shortcut_failure(s["shortcut_auroc_max"], s["shortcut_statistic"], s["origin"])):
            if reason:
                out.append(f"{s['name']}: {reason}")
    return out
