"""Mitigation jobs of a run: last-layer retraining with each method's groups, ERM and oracle groups.

For every (task, seed) cell the run computes, each cached as JSON under
``cache/mitigation/<key>.json`` (content-hashed key, SHA-256 checked on read, written under a lock):

* :func:`reference_job`: the ``erm`` head (no groups) and the strategy's head with the **oracle**
  groups of each stratum column; key = (task, model, strategy, strategy version, n_slices,
  ``MITIGATION_VERSION``, source ``"reference"``).
* :func:`method_mitigation_job`: the strategy's head with the groups of one discovery method (its
  method result key names task, model, method, params, version, seed, embedding, slice budget and
  random state), scored on every stratum column; key = (task, model, method result key, strategy,
  strategy version, ``MITIGATION_VERSION``).

Protocol (``docs/mitigation.md``): the discovery method is refitted on val exactly as in the run and
applied to train and val (never test) to give the groups; the heads are trained on the reference
model's frozen **penultimate** features of train (DFR: val) with model selection on val. Test
outputs go through the fitted heads only, and are scored here with the clean labels and true strata
(:func:`medstrata.scoring.worst_group_metrics`).
"""

from __future__ import annotations

import json
from typing import Any

from medstrata import integrity, locks, paths
from medstrata.hashing import content_hash
from medstrata.runner import jobs as J

#: Bump when the mitigation records change for the same inputs (head trainer, scoring, keys).
MITIGATION_VERSION = "5"  # 5: train rows capped at MAX_TRAIN; 4: float32 trainer, 200 steps, eta grid; 3: slices claimed at 0.5; 2: + the no-group reference
FEATURES = "penultimate"
DEFAULT = "group_dro"


def strategy_of(suite) -> str | None:
    """The suite's ``mitigation`` key: a registered strategy (default ``group_dro``) or None for ``none``."""
    from medstrata.errors import SpecError
    from medstrata.mitigation import list_strategies

    name = str(suite.get("mitigation", DEFAULT))
    if name == "none":
        return None
    if name not in list_strategies():
        raise SpecError(f"suite.mitigation must be 'none' or one of {', '.join(list_strategies())}, got {name!r}")
    return name


def code_versions(strategy: str) -> dict[str, str]:
    """The code versions mitigation records of ``strategy`` depend on (the strategy's, erm's, which
    every reference job trains, and :data:`MITIGATION_VERSION`): part of every mitigation key and
    of a run's cell job names."""
    from medstrata.mitigation import get_strategy_class

    return {"strategy_version": get_strategy_class(strategy).version,
            "erm_version": get_strategy_class("erm").version, "mitigation": MITIGATION_VERSION}


def _key(task_id: str, model: dict, strategy: str, source: str, n_slices: int) -> str:
    return content_hash({"task": task_id, "model": model["model_id"], "source": source, "strategy": strategy,
                         "n_slices": int(n_slices), **code_versions(strategy)})


def _cached(key: str, compute) -> list[dict]:
    """The records under ``key``: read when the file checks out, else ``compute()`` and write them."""
    path = paths.cache_dir() / "mitigation" / f"{key}.json"
    records = _read(path)
    if records is None:
        with locks.hold(f"mitigation-{key}"):
            records = _read(path, quiet=True)  # a concurrent run may have written it
            if records is None:
                records = compute()
                path.parent.mkdir(parents=True, exist_ok=True)
                integrity.write_verified(path, json.dumps(records, default=float).encode())
    return records


def _read(path, quiet: bool = False) -> list[dict] | None:
    why = integrity.problem(path)
    if why is None:
        return json.loads(path.read_text())
    if why != "missing" and not quiet:
        integrity.report(path, why)
    return None


#: Most train rows a head is trained on (and the slicer groups): a keyed draw by sample id, the same
#: rows for every head of a task (ERM, oracle and each method), so their differences stay paired.
#: Last-layer retraining needs few rows (DFR uses held-out sets of this size); the cap keeps a
#: method's mitigation at about a second on OrganAMNIST's 34.6k training images.
MAX_TRAIN = 4096


def train_subsample(problem, task_id: str):
    """``problem`` (the train Problem) cut to :data:`MAX_TRAIN` rows with the smallest keyed draw
    ``keyed_uniform(task_id, sample_id, "mitigation.train")``; unchanged when it has fewer rows."""
    import numpy as np

    from medstrata.hashing import keyed_uniform

    if problem.n <= MAX_TRAIN:
        return problem
    u = keyed_uniform(task_id, problem.sample_ids, "mitigation.train")
    return problem.take(np.sort(np.argsort(u, kind="stable")[:MAX_TRAIN]))


def _inputs(model: dict, embedding: str, needs_id: bool, task_id: str) -> tuple[dict, dict]:
    """({split: head Problem (penultimate)}, {split: slicer Problem (the run's embedding)}); train
    is :func:`train_subsample`'s rows in both."""
    head = {s: J.problem(model["model_dir"], s, FEATURES) for s in ("train", "val", "test")}
    slicer = dict(head) if embedding == FEATURES else {s: J.problem(model["model_dir"], s, embedding)
                                                       for s in ("train", "val")}
    if needs_id:
        from medstrata.models.identification import attach

        slicer = {s: attach(slicer[s], model["id_model_dir"], s) for s in ("train", "val")}
    head["train"] = train_subsample(head["train"], task_id)
    slicer["train"] = _rows_of(slicer["train"], head["train"].sample_ids)  # the same rows, drawn once
    return head, slicer


def _rows_of(problem, sample_ids):
    """``problem``'s rows of ``sample_ids`` (joined by id, in that order); ``problem`` itself when it
    already holds exactly those rows."""
    import numpy as np

    if problem.n == len(sample_ids) and np.array_equal(problem.sample_ids, sample_ids):
        return problem
    position = {s: i for i, s in enumerate(problem.sample_ids.tolist())}
    return problem.take(np.fromiter((position[s] for s in sample_ids.tolist()), dtype=np.int64, count=len(sample_ids)))


def _fit_slicer(name: str, params: dict, val, truth: dict | None = None, rename=None):
    """Discovery method ``name`` fitted on ``val`` with ``params`` (+ ``truth`` for the oracle).

    ``rename`` (a :class:`~medstrata.problem.Renaming`, the private tier's): the method is fitted on
    and applied to renamed views only (:class:`RenamedSlicer`), as in the tier's discovery step."""
    from medstrata.methods import get_method

    if rename is not None:
        truth = None if truth is None else rename.truth(truth)
        return RenamedSlicer(_fit_slicer(name, params, rename.problem(val), truth), rename)
    return get_method(name, **params, **({"truth": truth} if truth is not None else {})).fit(val)


class RenamedSlicer:
    """A discovery method fitted on renamed Problems: ``predict_proba(problem)`` (n, k) scores it on
    ``rename.problem(problem)`` (opaque ids, rows in their order) and puts the rows back in
    ``problem``'s order, so the method never sees a real sample id or row position."""

    def __init__(self, slicer, rename) -> None:
        self.slicer, self.rename = slicer, rename

    def predict_proba(self, problem):
        return self.rename.restore(self.slicer.predict_proba(self.rename.problem(problem)), problem)


def _score(task, test, probs, column: str) -> dict[str, float]:
    """Test worst-group metrics of ``probs`` (n_test, C) on the true strata of ``column``."""
    from medstrata.scoring import worst_group_metrics

    order = J._align(task, "test", test.sample_ids)
    labels = task.manifest.clean_label.to_numpy()[task.split_index("test")][order]
    rec = worst_group_metrics(labels, probs, J.strata_of(task, "test")[column][order], per_group=False)
    return {k: float(rec[k]) for k in ("acc_wg", "auroc_wg", "acc_avg")}


def _truth(task, column: str) -> dict:
    return dict(zip(task.manifest.sample_id, task.manifest[column]))


def _one(strategy: str, head: dict, slicer_in: dict, slicer, key: str):
    from medstrata.mitigation import mitigate

    return mitigate(strategy, head["train"], head["val"], head["test"], slicer, key=key,
                    slicer_inputs=(slicer_in["train"], slicer_in["val"]))


def reference_job(task_id: str, model: dict, seed: int, embedding: str, n_slices: int, strategy: str) -> list[dict]:
    """One record per stratum column: ``acc_wg_erm``/``auroc_wg_erm`` (erm head),
    ``acc_wg_oracle_mitigated``/``auroc_wg_oracle_mitigated`` (``strategy`` with the oracle groups) and
    ``acc_wg_nogroups``/``auroc_wg_nogroups`` (``strategy`` without discovered groups: the classes as
    groups, or JTT's error set for ``jtt_upweight``)."""
    def compute() -> list[dict]:
        task = J._load_task(task_id)
        head, slicer_in = _inputs(model, embedding, False, task_id)
        erm = _one("erm", head, slicer_in, None, f"{task_id}/{seed}")
        plain = _one(strategy, head, slicer_in, None, f"{task_id}/{seed}")
        out = []
        for col in task.stratum_columns():
            oracle = _fit_slicer("oracle", {"n_slices": n_slices, "random_state": seed}, slicer_in["val"],
                                 _truth(task, col))
            res = _one(strategy, head, slicer_in, oracle, f"{task_id}/{seed}")
            e, o = _score(task, head["test"], erm.test_probs, col), _score(task, head["test"], res.test_probs, col)
            c = _score(task, head["test"], plain.test_probs, col)
            out.append({**J._ids(task, model, seed, col), "stratum_column": col, "mitigation": strategy,
                        "acc_wg_erm": e["acc_wg"], "auroc_wg_erm": e["auroc_wg"], "acc_avg_erm": e["acc_avg"],
                        "acc_wg_oracle_mitigated": o["acc_wg"], "auroc_wg_oracle_mitigated": o["auroc_wg"],
                        "acc_avg_oracle_mitigated": o["acc_avg"], "acc_wg_nogroups": c["acc_wg"],
                        "auroc_wg_nogroups": c["auroc_wg"], "erm_params": json.dumps(erm.params),
                        "oracle_params": json.dumps(res.params)})
        return out

    return _cached(_key(task_id, model, strategy, "reference", n_slices), compute)


def method_mitigation_job(task_id: str, model: dict, method: dict, seed: int, embedding: str, n_slices: int,
                          state: int, strategy: str, result_id: str, rename=None) -> list[dict]:
    """One record per stratum column: ``acc_wg_mitigated``, ``auroc_wg_mitigated``, ``acc_avg_mitigated``,
    ``mitigation_params`` of ``strategy`` trained with ``method``'s groups (``result_id``: its result
    key, which names the renaming when there is one). ``rename``: the method sees renamed views only
    (:func:`_fit_slicer`; the private tier)."""
    from medstrata.methods import get_method_class

    cls = get_method_class(method["name"])

    def compute() -> list[dict]:
        task = J._load_task(task_id)
        head, slicer_in = _inputs(model, embedding, cls.needs_identification_model, task_id)
        params = {**method.get("params", {}), "n_slices": n_slices, "random_state": state}
        out, res = [], None
        for col in task.stratum_columns():
            if cls.is_oracle or res is None:
                truth = _truth(task, col) if cls.is_oracle else None
                res = _one(strategy, head, slicer_in,
                           _fit_slicer(method["name"], params, slicer_in["val"], truth, rename), f"{task_id}/{seed}")
            s = _score(task, head["test"], res.test_probs, col)
            out.append({"result_id": result_id, "stratum_column": col, "mitigation": strategy,
                        "acc_wg_mitigated": s["acc_wg"], "auroc_wg_mitigated": s["auroc_wg"],
                        "acc_avg_mitigated": s["acc_avg"], "mitigation_params": json.dumps(res.params),
                        "mitigation_groups_train": res.n_groups_train})
        return out

    return _cached(_key(task_id, model, strategy, result_id, n_slices), compute)


def attach_mitigation(results, jobs: list[dict[str, Any]], models: dict, cfg, progress: bool = False,
                      rename=None):
    """``results`` (flat method records) with the mitigation columns merged in by (result id, stratum
    column), plus ``gap_closed`` and ``gap_closed_defined`` per record (:mod:`medstrata.scoring.gap_closed`).
    Returns ``(results, reference records)``; unchanged results and [] when the suite says ``none``.
    ``rename``: the methods see renamed views only (the private tier, :func:`_fit_slicer`)."""
    from tqdm.auto import tqdm

    if strategy_of(cfg.suite) is None or results.empty:
        return results, []
    refs, rows = [], []
    for job in tqdm(jobs, desc="mitigation", disable=not progress):
        mine = results[(results.task_id == job["task_id"]) & (results.seed == job["seed"])]
        r, m = cell_mitigation(mine.to_dict("records"), job, models[job["task_id"]], cfg, rename)
        refs, rows = refs + r, rows + m
    return merge_mitigation(results, refs, rows), refs


def cell_mitigation(records: list[dict], job: dict[str, Any], model: dict, cfg,
                    rename=None) -> tuple[list[dict], list[dict]]:
    """The mitigation of one (task, seed) cell: ``(reference records, method rows)`` from
    :func:`reference_job` and :func:`method_mitigation_job` for each distinct method result of
    ``records`` (the cell's flat method records); ``([], [])`` when the suite says ``none``.
    ``rename``: see :func:`attach_mitigation`."""
    from medstrata.runner.runner import slice_budget

    strategy = strategy_of(cfg.suite)
    if strategy is None or not records:
        return [], []
    n_slices, embedding = slice_budget(cfg.suite), str(cfg.embedding)
    refs = reference_job(job["task_id"], model, job["seed"], embedding, n_slices, strategy)
    rows, seen = [], set()
    for r in records:
        if r["result_id"] in seen:
            continue
        seen.add(r["result_id"])
        method = next(m for m in job["methods"] if m["name"] == r["method"])
        rows += method_mitigation_job(r["task_id"], model, method, r["seed"], embedding, n_slices,
                                      int(r["random_state"]), strategy, r["result_id"], rename)
    return refs, rows


def merge_mitigation(results, refs: list[dict], rows: list[dict]):
    """``results`` with the method rows merged in by (result id, stratum column), the reference heads
    by (task, seed, stratum column), then :func:`add_gap_closed`."""
    import pandas as pd

    merged = results.merge(pd.DataFrame(rows), on=["result_id", "stratum_column"], how="left")
    ref = pd.DataFrame(refs)[["task_id", "seed", "stratum_column", "acc_wg_erm", "acc_wg_oracle_mitigated",
                              "acc_wg_nogroups"]]
    merged = merged.merge(ref, on=["task_id", "seed", "stratum_column"], how="left")
    return add_gap_closed(merged)


def add_gap_closed(df):
    """``gap_closed``/``gap_closed_defined`` (reference: the strategy without discovered groups, the
    primary figure) and ``gap_closed_erm``/``gap_closed_erm_defined`` (reference: the ERM head, the
    issue's literal formula) per record, NaN + False when oracle - reference < MIN_GAP. Why the
    no-group head is the primary reference: docs/mitigation.md §5 (random groups close 0.66 of the
    ERM gap on the quick suite; against the no-group head, -0.10)."""
    from medstrata.scoring.gap_closed import gap_closed

    out = {}
    for suffix, ref in (("", "acc_wg_nogroups"), ("_erm", "acc_wg_erm")):
        pairs = [gap_closed(m, e, o) for m, e, o in zip(df["acc_wg_mitigated"], df[ref], df["acc_wg_oracle_mitigated"])]
        out[f"gap_closed{suffix}"] = [p[0] for p in pairs]
        out[f"gap_closed{suffix}_defined"] = [p[1] for p in pairs]
    return df.assign(**out)


def save(folder, results, refs: list[dict], cfg) -> None:
    """``mitigation.parquet``/``.csv`` (reference heads per task, seed and stratum column) and the
    mitigation section appended to ``summary.md``; nothing when the suite says ``none``."""
    import pandas as pd

    from medstrata.runner.mitigation_report import markdown

    strategy = strategy_of(cfg.suite)
    if strategy is None or not refs:
        return
    ref = pd.DataFrame(refs)
    ref.to_parquet(folder / "mitigation.parquet", index=False)
    ref.to_csv(folder / "mitigation.csv", index=False)
    with open(folder / "summary.md", "a") as f:
        f.write("\n" + "\n".join(markdown(results, ref, strategy)))
    print(f"\nMitigation ({strategy}): gap closed per method (docs/mitigation.md)")
    from medstrata.runner.mitigation_report import gap_table, method_summary

    print(method_summary(gap_table(results)).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
