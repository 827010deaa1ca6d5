"""The submission file, format version 1: a strict pydantic model and its JSON Schema.

A submission is one JSON object::

    {"format": "medstrata-submission", "format_version": 1,
     "board": {"name": "quick", "id": "<16 hex: the board's content hash>"},
     "method": {"name": "my_method", "version": "1.0", "authors": ["A. Author"],
                "code_url": "https://...", "paper_url": null, "embedding": "penultimate",
                "used_stratum_labels": false, "control": false, "description": "..."},
     "tasks": {"<task id>": {"seed": 0, "model_id": "<16 hex>", "random_state": 0, "n_slices": 5,
                             "scores": {"<sample id>": [s_1, ..., s_k], ...}}, ...}}

* ``tasks`` holds every task of the board, keyed by its content-hash id; ``scores`` holds every
  *test* sample of the task, keyed by sample id, each a list of ``k = n_slices`` slice scores in
  [0, 1] (the method's ``predict_proba`` row; k <= the board's slice budget).
* ``scores_by_column`` ({stratum column: {sample id: [...]}}) replaces ``scores`` only for methods
  that read the true strata (``used_stratum_labels: true``, e.g. the oracle control).
* ``control: true`` marks a reference row (e.g. random scores) that is shown but not ranked;
  ``used_stratum_labels: true`` rows are shown as oracle-type references and are never ranked.
* Nothing in the file is executed, unpickled or used as a path; numbers inside it are never
  trusted (the pinned scorer recomputes every metric).

The JSON Schema (``submission_json_schema()``, written to ``leaderboard/schema/``) is generated
from these models, so the two never disagree.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

FORMAT, FORMAT_VERSION = "medstrata-submission", 1
#: Method names: a letter or digit, then letters, digits, ``_ . + -``; no HTML, no path parts.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}$"
HEX16 = r"^[0-9a-f]{16}$"
#: Free text (authors, description): printable, no markup characters.
TEXT_PATTERN = r"^[^<>\x00-\x1f\x7f]*$"
URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/?#-]*)?$"
#: Sample ids as the builder writes them (``<flag>-<size>-<split>-<index>``) or private opaque ids.
SAMPLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN, max_length=2000)]
Url = Annotated[str, StringConstraints(pattern=URL_PATTERN, max_length=500)]
Score = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Row = Annotated[list[Score], Field(min_length=1, max_length=64)]
Scores = dict[Annotated[str, StringConstraints(pattern=SAMPLE_ID_PATTERN)], Row]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BoardRef(_Strict):
    """Which board (suite of tasks) the submission is for; ``id`` is the board's content hash."""

    name: Name
    id: Annotated[str, StringConstraints(pattern=HEX16)]


class MethodMeta(_Strict):
    """Who and what: shown on the page (escaped) and stored with every row."""

    name: Name
    version: Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
    authors: Annotated[list[Annotated[Text, StringConstraints(min_length=1, max_length=200)]],
                       Field(min_length=1, max_length=50)]
    code_url: Optional[Url] = None
    paper_url: Optional[Url] = None
    embedding: Name
    used_stratum_labels: bool
    control: bool = False
    description: Text = ""


class TaskEntry(_Strict):
    """The method's test slice scores on one task of the board."""

    seed: Annotated[int, Field(ge=0)]
    model_id: Annotated[str, StringConstraints(pattern=HEX16)]
    random_state: int
    n_slices: Annotated[int, Field(ge=1, le=64)]
    scores: Optional[Scores] = None
    scores_by_column: Optional[dict[Annotated[str, StringConstraints(pattern=r"^stratum_[a-z0-9_]{1,40}$")], Scores]] = None


class Submission(_Strict):
    """A whole submission file (format version 1)."""

    format: Literal["medstrata-submission"]
    format_version: Literal[1]
    board: BoardRef
    method: MethodMeta
    tasks: Annotated[dict[Annotated[str, StringConstraints(pattern=HEX16)], TaskEntry], Field(min_length=1)]


def submission_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of format version 1, generated from :class:`Submission`."""
    schema = Submission.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://medstrata.org/schema/submission-v{FORMAT_VERSION}.schema.json"
    return schema


def schema_text() -> str:
    """The schema file's text (sorted keys, one trailing newline)."""
    return json.dumps(submission_json_schema(), indent=1, sort_keys=True) + "\n"


def is_clean_name(text: str) -> bool:
    """True for a method name the board accepts (see :data:`NAME_PATTERN`)."""
    return re.fullmatch(NAME_PATTERN, text) is not None
