"""``gap_closed`` on the leaderboard: the pinned scorer's mitigation step for **code** submissions.

An outputs submission holds test slice scores only; mitigation needs the method's groups on train
and val, and test scores must never choose them, so an outputs row has no ``gap_closed`` (NaN, "–"
on the page). For a code submission the scorer knows the registered method: on every board cell it
refits the method on val (the board's slice budget, ``random_state = seed``, as the submission run
did) and runs :func:`medstrata.runner.mitigation.method_mitigation_job` and
:func:`~medstrata.runner.mitigation.reference_job` with the default strategy (``group_dro``), the
same cached jobs as ``medstrata run``, so a board row and a run agree. The records get
``acc_wg_mitigated``, ``auroc_wg_mitigated``, ``acc_wg_erm``, ``acc_wg_oracle_mitigated``,
``acc_wg_nogroups``, ``gap_closed``/``gap_closed_defined`` (vs the no-group head) and
``gap_closed_erm``/``gap_closed_erm_defined`` (vs ERM) (see ``docs/mitigation.md``).
"""

from __future__ import annotations

import pandas as pd

from medstrata.leaderboard.board import Board
from medstrata.runner import jobs as J
from medstrata.runner import mitigation as M

KEYS = ["task_id", "stratum_column"]


def with_mitigation(records: list[dict], method: str, board: Board) -> list[dict]:
    """``records`` (the scorer's, for registered ``method``) with the mitigation fields merged in."""
    from medstrata.leaderboard.scorer import cell
    from medstrata.methods import get_method_class

    rows, refs = [], []
    spec = {"name": method, "params": {}}
    for t in board.tasks:
        task, model, _ = cell(t, board.embedding)
        model = dict(model)
        if get_method_class(method).needs_identification_model:
            model.update(J.identification_job(task.task_id, t["model_spec"], t["seed"]))
        key = J.result_key(task.task_id, model, spec, t["seed"], board.embedding, board.n_slices, t["seed"])
        for r in M.method_mitigation_job(task.task_id, model, spec, t["seed"], board.embedding, board.n_slices,
                                         t["seed"], M.DEFAULT, key):
            rows.append({**r, "task_id": task.task_id})
        refs += M.reference_job(task.task_id, model, t["seed"], board.embedding, board.n_slices, M.DEFAULT)
    extra = pd.DataFrame(rows).drop(columns=["result_id"]).merge(
        pd.DataFrame(refs)[KEYS + ["acc_wg_erm", "acc_wg_oracle_mitigated", "acc_wg_nogroups"]], on=KEYS)
    merged = M.add_gap_closed(pd.DataFrame(records).merge(extra, on=KEYS, how="left"))
    return merged.to_dict(orient="records")  # the store writes numpy scalars and NaN as strict JSON
