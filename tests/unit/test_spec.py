import pytest

from medstrata.errors import ImpossibleSpecError, SpecError, UnknownDatasetError, UnsupportedSizeError
from medstrata.tasks.spec import TaskSpec, parse_overrides

SHA = "0" * 64


def test_defaults_are_resolved_and_explicit_defaults_keep_the_id():
    a = parse_overrides(["dataset=bloodmnist", "stratum=rare_subclass", "seed=0"])
    b = parse_overrides(["dataset=bloodmnist", "stratum=rare_subclass", "seed=0", "stratum.p=5e-2", "size=28"])
    assert a.strata[0][1] == {"subclass": 5, "p": 0.05}
    assert a.task_id(SHA) == b.task_id(SHA)
    assert a.target["kind"] == "superclass"


def test_seed_param_and_source_change_the_id():
    base = parse_overrides(["dataset=bloodmnist", "stratum=rare_subclass", "seed=0"])
    assert base.task_id(SHA) != parse_overrides(["dataset=bloodmnist", "stratum=rare_subclass", "seed=1"]).task_id(SHA)
    assert base.task_id(SHA) != parse_overrides(["dataset=bloodmnist", "stratum=rare_subclass", "stratum.p=0.1"]).task_id(SHA)
    assert base.task_id(SHA) != base.task_id("1" * 64)


def test_reference_spec_id_is_pinned():
    spec = parse_overrides(["dataset=bloodmnist", "stratum=rare_subclass", "seed=0"])
    # Golden: changing canonicalisation, defaults or the builder version must change this on purpose.
    assert spec.task_id("062023e186f537e26b3c21ea3b2614ddfc475e8a14825dfd20663bbb7e37bddc") == "146afdd194386020"  # builder 2 (issue 6 injectors)


def test_round_trip_through_dict():
    spec = parse_overrides(["dataset=pneumoniamnist", "stratum=label_noise,spurious_marker", "stratum.label_noise.r=0.3"])
    assert TaskSpec.from_dict(spec.to_dict()) == spec
    assert [k for k, _ in spec.strata] == ["label_noise", "spurious_marker"]


@pytest.mark.parametrize(
    "args, error, needle",
    [
        (["dataset=nope"], UnknownDatasetError, "bloodmnist"),
        (["dataset=bloodmnist", "size=32"], UnsupportedSizeError, "28, 64, 128, 224"),
        (["dataset=adrenalmnist3d", "size=128"], UnsupportedSizeError, "28, 64"),
        (["dataset=bloodmnist", "stratum=nope"], SpecError, "rare_subclass"),
        (["dataset=bloodmnist", "stratum=rare_subclass", "stratum.p=0.9"], SpecError, "outside the allowed range"),
        (["dataset=bloodmnist", "stratum=rare_subclass", "stratum.q=1"], SpecError, "valid: subclass, p"),
        (["dataset=bloodmnist", "stratum=label_noise,spurious_marker", "stratum.r=0.1"], SpecError, "ambiguous"),
        (["dataset=bloodmnist", "colour=red"], SpecError, "unknown key"),
        (["stratum=rare_subclass"], SpecError, "dataset=<flag> is required"),
        (["dataset=bloodmnist", "seed=abc"], SpecError, "integer"),
        (["dataset=chestmnist", "target=official"], SpecError, "any_finding"),
    ],
)
def test_bad_specs_get_specific_errors(args, error, needle):
    with pytest.raises(error, match=needle):
        parse_overrides(args)


def test_impossible_is_a_spec_error_subclass():
    assert issubclass(ImpossibleSpecError, SpecError)


def test_all_18_flags_resolve_a_default_spec():
    from medstrata.data.info import flags

    for flag in flags():
        spec = parse_overrides([f"dataset={flag}", "stratum=spurious_marker,label_noise"])
        assert spec.dataset == flag


def test_strata_order_is_canonical_and_part_of_nothing():
    a = parse_overrides(["dataset=bloodmnist", "stratum=spurious_marker,subtle_feature,label_noise,rare_subclass"])
    b = parse_overrides(["dataset=bloodmnist", "stratum=rare_subclass,label_noise,subtle_feature,spurious_marker"])
    assert a == b and a.spec_hash == b.spec_hash
    assert [k for k, _ in a.strata] == ["rare_subclass", "label_noise", "subtle_feature", "spurious_marker"]
