"""The MedStrata leaderboard: submissions, pinned scorer, SQLite store, ranking page, private tier.

Modules (one concern each):

* :mod:`.schema` - the versioned submission format (strict pydantic model + JSON Schema file).
* :mod:`.board` - a board's suite definition (tasks, seeds, reference models, slice budget) and
  its content-hash id, made from a published run.
* :mod:`.checks` - validation of a submission against a board: every rejection names the field,
  task, sample id, expected and found.
* :mod:`.scorer` - the pinned scorer: slice scores -> the same flat records as ``medstrata run``.
* :mod:`.store` - the SQLite store (WAL, one transaction per submit, rescore).
* :mod:`.export` - ``medstrata export-submission``: a run folder -> a submission file; the
  submission document of a code submission.
* :mod:`.submit` - ``medstrata submit`` (file, ``--method``, ``--tier private``) and ``rescore``.
* :mod:`.page` - ``medstrata leaderboard build``: static HTML (Jinja2) + Markdown + CSV + plot.
* :mod:`.private`, :mod:`.private_plan` - the private tier: secret-derived held-out tasks with
  opaque sample ids (``docs/private_tier.md``).
* :mod:`.cli` - the subcommands.

**Page input** (what :mod:`.store` hands to :mod:`.page`): a records frame with the columns of
``results.csv`` of a run (``task_id, dataset, kind, seed, method, is_oracle, is_control, ap,
p_at_10, ...``, plus ``ap_boot``: list of floats per row) and ``board_name`` (unique label of the
submission, used as ``method`` for ranking), ``submission_id``, ``tier`` ("public"/"private"),
``worst_slice_acc``; and a submissions frame, one row per submission (see :mod:`.store`).
"""
