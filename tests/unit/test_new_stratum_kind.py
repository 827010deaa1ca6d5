"""Adding a stratum kind touches one file plus its registration.

The whole kind below is one class (what would be one file under ``src/medstrata/strata/``) and one
``register_stratum`` call (its registration). With no other edit, the kind is listed, its parameters
resolve and are checked, it builds into a task, suites expand it over its declared severities and
respect its class constraint, the report finds its knob, and ``medstrata run`` accepts it as a filter.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from medstrata.hashing import keyed_uniform
from medstrata.strata.base import Assignment, Injector, Param


class CornerPatch(Injector):
    """Test kind: a keyed ``fraction`` of class 0 gets a dark 3x3 patch in its top-left corner."""

    order: ClassVar[int] = 50
    params: ClassVar[dict] = {"fraction": Param(float, 0.2, "share of class 0 that gets the patch", 0.01, 1.0)}
    knob, severities, multiclass_only = "fraction", (0.1, 0.2, 0.4), True
    citation: ClassVar[str] = "test only"

    def assign(self, params, state):
        cls0 = state.index(mask=state.label == 0)
        u = keyed_uniform(state.key, state.sample_ids[cls0].tolist(), "corner")
        members = cls0[u < params["fraction"]]
        stratum = np.zeros(len(state.sample_ids), dtype=np.int64)
        stratum[members] = 1
        return Assignment(stratum=stratum, names={1: "class 0 with a corner patch"},
                          sample_params={int(i): {"patch": 3} for i in members}, touched=members)

    def apply(self, image, sample_params, state):
        out = image.copy()
        k = sample_params["patch"]
        out[:k, :k] = 0  # (H, W) or (H, W, 3): the first rows and columns
        return out


@pytest.fixture
def corner_kind():
    from medstrata.strata import REGISTRY, register_stratum

    register_stratum("corner_patch")(CornerPatch)  # the registration
    yield "corner_patch"
    REGISTRY.unregister("corner_patch")


def test_a_new_kind_works_everywhere_with_no_other_edit(corner_kind, make_source, capsys):
    from medstrata.runner import report
    from medstrata.runner.suite import _full_cells
    from medstrata.strata import declaration, list_strata
    from medstrata.tasks.build import build_task
    from medstrata.tasks.spec import parse_overrides

    assert corner_kind in list_strata()
    assert declaration(corner_kind) == {"kind": corner_kind, "knob": "fraction", "severities": [0.1, 0.2, 0.4],
                                        "multiclass_only": True}
    spec = parse_overrides(["dataset=bloodmnist", f"stratum={corner_kind}", "stratum.fraction=0.3"])
    task = build_task(spec, make_source("bloodmnist"))
    m = task.manifest.to_pandas()
    members = m[f"stratum_{corner_kind}"].to_numpy() == 1
    assert members.any() and (m.loc[members, "label"] == 0).all()
    assert (task.images[members][:, :3, :3] == 0).all() and (task.images[~members][:, :3, :3] != 0).any()
    cells = _full_cells(["bloodmnist", "pneumoniamnist"], [corner_kind], severities=True)
    assert [(c.dataset, c.params) for c in cells] == [("bloodmnist", {"fraction": v}) for v in (0.1, 0.2, 0.4)]
    assert report.knob_of(corner_kind) == "fraction"
    from medstrata.cli import main

    assert main(["run", "suite=full", f"kind={corner_kind}", "--dry-run"]) == 2  # no full-suite task has it
    assert f"kind={corner_kind} selects no task of suite 'full'" in capsys.readouterr().err


def test_a_kind_must_declare_a_valid_knob(make_source):
    from medstrata.registry import RegistrationError
    from medstrata.strata import register_stratum

    class NoKnob(CornerPatch):
        knob = "strength"

    class OneSeverity(CornerPatch):
        severities = (0.2,)

    class BadSeverity(CornerPatch):
        severities = (0.2, 5.0)

    for cls, message in ((NoKnob, "knob 'strength' is not one of its params"),
                         (OneSeverity, "at least two values"), (BadSeverity, "outside the allowed range")):
        with pytest.raises(RegistrationError, match=message):
            register_stratum("bad_kind")(cls)
