"""The validity card of a task: per stratum, harm (with an interval over seeds), the best shortcut
statistic, the pixel-PCA probe, the share of test errors, recoverability and dose-response.

Data flow: each seed has its own built task and reference model. :func:`measure_seed` reads the
task's manifest (the only place that knows the strata) and the model's cached outputs and returns one
flat record per (stratum column, stratum id). :func:`assemble` pools the records of all seeds into
the card and applies the gates of :mod:`medstrata.validity.gates`.

Splits: harm, the shortcut battery and the PCA probe are measured on **val** (decisions are made on
val); the error share is a description of the benchmark's test split (where methods are scored) and
is reported, never used to choose anything.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from medstrata.validity import gates
from medstrata.validity.harm import error_share, stratum_gaps, t_interval


def _split_view(task, model_dir: str, split: str) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
    """(clean labels (n,), preds (n,), {column: ids (n,)}, images (n, ...)) of one split, rows in
    the order of the model's outputs (joined by sample id)."""
    from medstrata.runner import jobs as J

    prob = J.problem(model_dir, split, "penultimate")
    idx = task.split_index(split)[J._align(task, split, prob.sample_ids)]
    m = task.manifest
    strata = {c: m[c].to_numpy()[idx] for c in task.stratum_columns()}
    return m.clean_label.to_numpy()[idx], prob.preds, strata, np.asarray(task.images[idx])


def measure_seed(task_id: str, model_dir: str, probe: bool = True, shortcut: bool = True) -> list[dict]:
    """One record per (stratum column, stratum id >= 1) of one seed's task and model.

    Reads the task's manifest and the model's cached val/test outputs (joined by sample id), then
    :func:`measure_arrays`. ``probe``/``shortcut`` False skip the PCA probe / the battery (NaN).
    """
    from medstrata.runner import jobs as J

    task = J._load_task(task_id)
    val = _split_view(task, model_dir, "val")
    test = _split_view(task, model_dir, "test")
    strata = {f"stratum_{s['kind']}": (s["kind"], s["params"]) for s in task.info["spec"]["strata"]}
    names = {f"stratum_{s['kind']}": s["names"] for s in task.info["strata"]}
    return measure_arrays(val, test[:3], strata, names, probe, shortcut)


def measure_shortcuts(task_id: str, probe: bool = True) -> list[dict]:
    """As :func:`measure_seed` without a model: the shortcut battery and the PCA probe on val only
    (harm and error share NaN). Cheap: needs the built task, no training."""
    from medstrata.runner import jobs as J

    task = J._load_task(task_id)
    idx = task.split_index("val")
    m = task.manifest
    labels = m.clean_label.to_numpy()[idx]
    ids = {c: m[c].to_numpy()[idx] for c in task.stratum_columns()}
    nan_preds = np.full(len(labels), -1)
    strata = {f"stratum_{s['kind']}": (s["kind"], s["params"]) for s in task.info["spec"]["strata"]}
    names = {f"stratum_{s['kind']}": s["names"] for s in task.info["strata"]}
    recs = measure_arrays((labels, nan_preds, ids, np.asarray(task.images[idx])), (labels, nan_preds, ids),
                          strata, names, probe)
    for r in recs:
        r.update(gap=float("nan"), acc_member=float("nan"), acc_rest=float("nan"), error_share_test=float("nan"))
    return recs


def measure_arrays(val: tuple, test: tuple, strata: dict, names: dict, probe: bool = True,
                   shortcut: bool = True) -> list[dict]:
    """The per-stratum measures of one seed from arrays.

    Args:
        val: (clean labels (n,), preds (n,), {column: stratum ids (n,)}, images (n, ...) uint8).
        test: (clean labels (m,), preds (m,), {column: stratum ids (m,)}).
        strata: {column: (kind, params)}; names: {column: {str(stratum id): name}}.

    Returns:
        records with ``column, kind, params, stratum_id, name, gap, acc_member, acc_rest,
        n_member_val, error_share_test, shortcut_auroc, shortcut_statistic, pca_auroc``.
    """
    from medstrata.validity.shortcuts import pca_probe_auroc, shortcut_auroc

    labels, preds, ids_by_col, images = val
    nan = {"best_auroc": float("nan"), "best_statistic": None}
    out = []
    for col, ids in ids_by_col.items():
        gaps = stratum_gaps(labels, preds, ids)
        shares = error_share(test[0], test[1], test[2][col])
        for k in sorted(set(gaps) | set(shares)):
            rows = (ids == 0) | (ids == k)
            sc = shortcut_auroc(images[rows], labels[rows], ids[rows] == k) if shortcut else nan
            pca = pca_probe_auroc(images[rows], labels[rows], ids[rows] == k) if probe else nan
            g = gaps.get(k, {"gap": float("nan"), "acc_member": float("nan"), "acc_rest": float("nan"), "n_member": 0})
            out.append({"column": col, "kind": strata[col][0], "params": strata[col][1], "stratum_id": k,
                        "name": names.get(col, {}).get(str(k), str(k)), "gap": g["gap"],
                        "acc_member": g["acc_member"], "acc_rest": g["acc_rest"], "n_member_val": g["n_member"],
                        "error_share_test": shares.get(k, float("nan")), "shortcut_auroc": sc["best_auroc"],
                        "shortcut_statistic": sc.get("best_statistic"), "pca_auroc": pca["best_auroc"]})
    return out


def _nanmean(values: list) -> float:
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    return float(np.nanmean(v)) if len(v) and np.isfinite(v).any() else float("nan")


def _stratum_card(recs: list[dict], recover: dict, dose: dict | None) -> dict:
    """Pool one stratum's per-seed records (same column and id) into its card entry."""
    first = recs[0]
    sc = [r["shortcut_auroc"] for r in recs]
    finite = [(v, r["shortcut_statistic"]) for v, r in zip(sc, recs) if v is not None and np.isfinite(v)]
    worst = max(finite) if finite else (float("nan"), None)
    return {"column": first["column"], "kind": first["kind"], "params": first["params"],
            "stratum_id": first["stratum_id"], "name": first["name"],
            "origin": gates.origin(first["kind"], first["params"]),
            "gaps": [r["gap"] for r in recs], "harm": t_interval([r["gap"] for r in recs]),
            "acc_member": _nanmean([r["acc_member"] for r in recs]), "acc_rest": _nanmean([r["acc_rest"] for r in recs]),
            "n_member_val": _nanmean([r["n_member_val"] for r in recs]),
            "error_share_test": _nanmean([r["error_share_test"] for r in recs]),
            "shortcut_auroc_max": worst[0], "shortcut_auroc_mean": _nanmean(sc), "shortcut_statistic": worst[1],
            "pca_auroc_mean": _nanmean([r["pca_auroc"] for r in recs]),
            "recover": recover.get((first["column"], first["stratum_id"]), {}),
            "dose": (dose or {}).get((first["column"], first["stratum_id"]))}


def assemble(cell: dict, per_seed: dict[int, list[dict]], recover: dict | None = None,
             dose: dict | None = None) -> dict:
    """The task's card from per-seed records.

    Args:
        cell: {"dataset", "target", "strata": [[kind, params], ...]} of the task before seeding.
        per_seed: {seed: records of :func:`measure_seed`}.
        recover: {(column, stratum_id): {"oracle": mean metric, "random": mean metric, "metric": name}}.
        dose: {(column, stratum_id): {"knob", "severities", "gaps", "monotone", "spearman"}}.

    Returns:
        {"cell", "dataset", "target", "strata", "seeds", "strata_cards", "failures", "passes"}.
    """
    groups: dict[tuple, list[dict]] = {}
    for seed in sorted(per_seed):
        for r in per_seed[seed]:
            groups.setdefault((r["column"], r["stratum_id"]), []).append(r)
    cards = [_stratum_card(recs, recover or {}, dose) for _, recs in sorted(groups.items())]
    failures = gates.task_failures(cards)
    return {"cell": cell_name(cell), "dataset": cell["dataset"], "target": cell.get("target"),
            "strata": [[k, p] for k, p in cell["strata"]], "seeds": sorted(int(s) for s in per_seed),
            "strata_cards": cards, "failures": failures, "passes": not failures}


def _non_default(dataset: str, target: str | None, kind: str, params: dict) -> dict:
    """The entries of ``params`` that differ from the kind's resolved defaults on this dataset."""
    from medstrata.errors import MedStrataError
    from medstrata.strata import get_injector
    from medstrata.tasks.target import resolve_target

    try:
        defaults = get_injector(kind).resolve({}, dataset, resolve_target(dataset, target))
    except (MedStrataError, KeyError):
        return dict(params)
    return {k: v for k, v in params.items() if defaults.get(k, object()) != v}


def cell_name(cell: dict) -> str:
    """``dataset[target]/kind+kind {non-default params}`` for tables and logs."""
    target = f"[{cell['target']}]" if cell.get("target") else ""
    diffs = {k: _non_default(cell["dataset"], cell.get("target"), k, p) for k, p in cell["strata"]}
    params = {k: d for k, d in diffs.items() if d}
    extra = f" {json.dumps(params, sort_keys=True)}" if params else ""
    return f"{cell['dataset']}{target}/{'+'.join(k for k, _ in cell['strata'])}{extra}"


def to_jsonable(obj: Any) -> Any:
    """Cards with NaN -> None and tuple keys -> strings, for ``json.dump``."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
