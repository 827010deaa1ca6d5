"""The hostile-input table: bad inputs and faults, each with its exit code and a specific message,
never a traceback, and no partial output (no run folder, no task folder, no stray file).

Every case calls the real CLI entry point (``medstrata.cli.main``) in-process, so a leaked exception
fails the test with its traceback; sources are synthetic where a command needs data.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
import re

import pytest

from medstrata.cli import main
from tests.conftest import synthetic_source

SMOKE = ["run", "suite=smoke"]
NAN_TASK = "suite.tasks=[{dataset:pneumoniamnist,kind:subtle_feature,params:{strength:nan}}]"

#: (case id, argv, exit code, message regex). Run options are checked before any work.
RUN_CASES = [
    ("epochs_negative", SMOKE + ["suite.model.epochs=-3"], 2, r"epochs.*-3.*int >= 1"),
    ("epochs_negative_dry", SMOKE + ["suite.model.epochs=-3", "--dry-run"], 2, r"epochs.*-3"),
    ("epochs_zero", SMOKE + ["suite.model.epochs=0"], 2, r"epochs.*0.*>= 1"),
    ("epochs_text", SMOKE + ["suite.model.epochs=many"], 2, r"epochs.*'many'"),
    ("embedding_unknown", SMOKE + ["embedding=foo"], 2, r"unknown embedding 'foo'.*penultimate"),
    ("embedding_unknown_dry", SMOKE + ["embedding=foo", "--dry-run"], 2, r"unknown embedding 'foo'"),
    ("arch_unknown", SMOKE + ["suite.model.arch=vit_huge"], 2, r"unknown arch 'vit_huge'"),
    ("arch_unknown_dry", SMOKE + ["suite.model.arch=vit_huge", "--dry-run"], 2, r"unknown arch 'vit_huge'"),
    ("lr_zero", SMOKE + ["suite.model.lr=0"], 2, r"lr.*> 0"),
    ("lr_nan", SMOKE + ["suite.model.lr=nan"], 2, r"lr.*nan.*finite"),
    ("batch_size_zero", SMOKE + ["suite.model.batch_size=0"], 2, r"batch_size.*>= 1"),
    ("model_key_unknown", SMOKE + ["suite.model.dropout=0.5"], 2, r"unknown model_spec keys \['dropout'\]"),
    ("kind_typo", SMOKE + ["kind=rare_subclas"], 2, r"unknown stratum kind 'rare_subclas'.*rare_subclass"),
    ("kind_not_in_suite", SMOKE + ["kind=rare_subclass"], 2, r"kind=rare_subclass selects no task of suite 'smoke'"),
    ("dataset_unknown", SMOKE + ["dataset=foomnist"], 2, r"unknown dataset flag 'foomnist'"),
    ("dataset_not_in_suite", SMOKE + ["dataset=bloodmnist"], 2, r"dataset=bloodmnist selects no task.*pneumoniamnist"),
    ("seed_empty", SMOKE + ["seed="], 2, r"seed= gives no seed"),
    ("seed_text", SMOKE + ["seed=abc"], 2, r"seed must be an integer, got 'abc'"),
    ("seed_negative", SMOKE + ["seed=-1"], 2, r"seed must be between 0 and \d+, got -1"),
    ("seed_huge", SMOKE + ["seed=100000000000000000000000"], 2, r"seed must be between 0 and \d+, got 1000"),
    ("seed_float", SMOKE + ["seed=1.5"], 2, r"seed must be an integer, got 1.5"),
    ("seed_twice", SMOKE + ["seed=0,0"], 2, r"lists a seed twice"),
    ("method_unknown", SMOKE + ["method=nosuch"], 2, r"unknown method 'nosuch'"),
    ("method_empty", SMOKE + ["method="], 2, r"method= names no method"),
    ("method_param_unknown", SMOKE + ["method=random", "method_params.random.bogus=1"], 2,
     r"unknown parameter\(s\) \['bogus'\] for method 'random'"),
    ("method_param_other", SMOKE + ["method=random", "method_params.george.overcluster=true"], 2,
     r"'george' is not a method of this run"),
    ("method_param_bad_value", SMOKE + ["method=kmeans", "method_params.kmeans.n_clusters=abc"], 2,
     r"method 'kmeans' does not accept n_clusters='abc'"),
    ("method_param_bad_type", SMOKE + ["method=domino_mixture", "method_params.domino_mixture.y_weight=heavy"], 2,
     r"method 'domino_mixture' does not accept y_weight='heavy'"),
    ("method_param_seed", SMOKE + ["method=random", "method_params.random.random_state=3"], 2, r"random_state"),
    ("suite_unknown", ["run", "suite=nosuch"], 2, r"bad run override.*nosuch"),
    ("key_unknown", SMOKE + ["nosuchkey=1"], 2, r"bad run override.*nosuchkey"),
    ("hydra_cfg_flag", SMOKE + ["--cfg", "job"], 2, r"'--cfg' is not an option of `medstrata run`"),
    ("not_key_value", SMOKE + ["justaword"], 2, r"expected key=value or --dry-run, got 'justaword'"),
    ("n_slices_zero", SMOKE + ["suite.n_slices=0"], 2, r"n_slices to an int >= 1, got 0"),
    ("discovery_states_zero", SMOKE + ["suite.discovery_states=0"], 2, r"discovery_states must be an int >= 1"),
    ("gates_bad", SMOKE + ["suite.gates=maybe"], 2, r"suite.gates must be one of exclude, report"),
    ("metric_bad", SMOKE + ["suite.primary_metric=nope"], 2, r"primary_metric must be one of"),
    ("progress_bad", SMOKE + ["progress=maybe"], 2, r"progress must be true or false"),
    ("stratum_param_nan", SMOKE + [NAN_TASK], 2, r"subtle_feature.strength=nan must be a finite number"),
    ("stratum_param_range", SMOKE + ["suite.tasks=[{dataset:pneumoniamnist,kind:spurious_marker,params:{rho:3}}]"],
     2, r"rho=3.0 is outside the allowed range"),
    ("stratum_param_unknown", SMOKE + ["suite.tasks=[{dataset:pneumoniamnist,kind:spurious_marker,params:{foo:1}}]"],
     2, r"unknown parameter\(s\) foo for stratum spurious_marker"),
]

BUILD = ["build", "dataset=pneumoniamnist", "stratum=spurious_marker"]
BUILD_CASES = [
    ("build_no_dataset", ["build", "stratum=spurious_marker"], 2, r"dataset=<flag> is required"),
    ("build_dataset_unknown", ["build", "dataset=foomnist"], 2, r"unknown dataset flag 'foomnist'"),
    ("build_strength_nan", ["build", "dataset=pneumoniamnist", "stratum=subtle_feature", "stratum.strength=nan"], 2,
     r"subtle_feature.strength=nan must be a finite number"),
    ("build_rho_inf", BUILD + ["stratum.rho=.inf"], 2, r"rho=inf"),
    ("build_seed_text", BUILD + ["seed=abc"], 2, r"seed must be an integer, got 'abc'"),
    ("build_seed_negative", BUILD + ["seed=-1"], 2, r"seed must be between 0"),
    ("build_seed_huge", BUILD + ["seed=100000000000000000000000"], 2, r"seed must be between 0"),
    ("build_kind_unknown", ["build", "dataset=pneumoniamnist", "stratum=nosuch"], 2, r"unknown stratum kind 'nosuch'"),
    ("build_key_unknown", BUILD + ["foo=1"], 2, r"unknown key 'foo'"),
    ("build_not_key_value", BUILD + ["oops"], 2, r"expected key=value, got 'oops'"),
]

ID_CASES = [
    ("show_path_as_id", ["show", "/some/dir/0123456789abcdef"], 2, r"is not a task id"),
    ("verify_path_as_id", ["verify", "../tasks/0123456789abcdef"], 2, r"is not a task id"),
    ("export_path_as_id", ["export", "/tmp/x"], 2, r"is not a task id"),
    ("show_id_too_short", ["show", "abc"], 2, r"'abc' is not a task id"),
    ("show_unknown_id", ["show", "0123456789abcdef"], 2, r"no built task '0123456789abcdef'"),
    ("verify_unknown_id", ["verify", "0123456789abcdef"], 2, r"no task '0123456789abcdef'"),
    ("validate_neither", ["validate"], 2, r"give either a task id or --suite"),
]


def _no_output(home: pathlib.Path) -> list[str]:
    """What a failed command left in the home: run folders and task folders (locks are not output)."""
    left = []
    for sub in ("runs", "tasks"):
        folder = home / sub
        if folder.is_dir():
            left += [str(p) for p in folder.iterdir()]
    return left


def _check(capsys, argv, code, pattern, home):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert rc == code, (rc, out[-2000:], err[-2000:])
    assert "Traceback" not in out + err
    assert re.search(pattern, err), err
    assert err.strip().startswith("error:"), err
    assert not _no_output(home), _no_output(home)


@pytest.mark.parametrize("case,argv,code,pattern", RUN_CASES + BUILD_CASES + ID_CASES, ids=lambda v: v if isinstance(v, str) and " " not in v and "/" not in v else None)
def test_bad_input_is_refused_clearly(case, argv, code, pattern, capsys, _isolated_home):
    _check(capsys, argv, code, pattern, _isolated_home)


@pytest.mark.parametrize("value", ["0", "-5", "x"])
def test_show_n_must_be_positive(value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["show", "0123456789abcdef", "-n", value])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "expected an integer >= 1" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [SMOKE, BUILD])
def test_home_under_a_file_names_the_path(command, capsys, monkeypatch):
    monkeypatch.setenv("MEDSTRATA_HOME", "/dev/null/x")
    _patch_source(monkeypatch)
    rc = main(command)
    err = capsys.readouterr().err
    assert rc == 2 and "MEDSTRATA_HOME /dev/null/x is not writable: Not a directory" in err and "Traceback" not in err


def test_read_only_home_names_the_path(capsys, monkeypatch, tmp_path):
    """EROFS (a read-only disk), simulated: creating anything in the home fails with errno EROFS."""
    home = tmp_path / "ro_home"
    monkeypatch.setenv("MEDSTRATA_HOME", str(home))
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *a, **k):
        if str(self).startswith(str(home)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    rc = main(SMOKE + ["method=random", "seed=0"])
    err = capsys.readouterr().err
    assert rc == 2 and f"MEDSTRATA_HOME {home} is not writable: Read-only file system" in err
    assert not home.exists()


# ---------------------------------------------------------------- faults on built tasks


def _patch_source(monkeypatch):
    from medstrata.runner import jobs
    from medstrata.tasks import verify

    monkeypatch.setattr(verify, "load_source", lambda flag, size=28: synthetic_source(flag, n=(400, 120, 200)))
    monkeypatch.setattr(jobs, "_source_cached", lambda root, flag, size: synthetic_source(flag, n=(400, 120, 200)))
    import medstrata.data.source as src

    monkeypatch.setattr(src, "load_source", lambda flag, size=28: synthetic_source(flag, n=(400, 120, 200)))


@pytest.fixture
def task(monkeypatch, capsys, _isolated_home):
    """A built synthetic task id and its folder."""
    _patch_source(monkeypatch)
    assert main(BUILD) == 0
    task_id = capsys.readouterr().out.strip().splitlines()[-1]
    return task_id, _isolated_home / "tasks" / task_id


def test_verify_with_deleted_manifest_reports_it(task, capsys):
    task_id, folder = task
    (folder / "manifest.parquet").unlink()
    assert main(["verify", task_id]) == 1
    out, err = capsys.readouterr()
    assert "manifest.parquet: missing" in out and "Traceback" not in out + err


def test_verify_with_malformed_task_json_reports_it(task, capsys):
    task_id, folder = task
    (folder / "task.json").write_text("{ not json")
    assert main(["verify", task_id]) == 1
    out, err = capsys.readouterr()
    assert "task.json: not valid JSON" in out and "cannot be rebuilt" in out and "Traceback" not in out + err


def test_whitespace_in_task_json_is_named_as_an_edit(task, capsys):
    task_id, folder = task
    text = (folder / "task.json").read_text()
    (folder / "task.json").write_text(text.replace("{", "{ ", 1))
    assert main(["verify", task_id]) == 1
    out, _ = capsys.readouterr()
    assert "task.json: file on disk" in out and "differs from build_info" in out
    assert main(["show", task_id]) == 2
    err = capsys.readouterr().err
    assert "task.json does not match the SHA-256 recorded in build_info.json" in err
    assert not (folder / "montage.png").exists()


def test_flipped_image_byte_is_refused_by_show_and_export(task, capsys):
    task_id, folder = task
    _flip_byte(folder / "images.npy")
    for argv in (["show", task_id], ["export", task_id]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"task {folder}: images.npy does not match" in err and "Traceback" not in err
    assert not (folder / "montage.png").exists() and not (folder / "export").exists()


def test_show_writes_only_inside_the_home_by_default(task, capsys):
    task_id, folder = task
    assert main(["show", task_id]) == 0
    assert capsys.readouterr().out.strip() == str(folder / "montage.png")


@pytest.mark.parametrize("out", ["/dev/null/x/export", "/proc/medstrata_export"])
def test_export_to_an_unwritable_place_names_it(task, capsys, out):
    task_id, _ = task
    assert main(["export", task_id, "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot use") and "/" in err and "Traceback" not in err


def test_show_out_unwritable_names_it(task, capsys):
    task_id, _ = task
    assert main(["show", task_id, "--out", "/dev/null/x/m.png"]) == 2
    err = capsys.readouterr().err
    assert "error: cannot use /dev/null/x" in err and "Not a directory" in err


def test_interrupt_swallowed_by_a_library_still_exits_130(monkeypatch, capsys):
    """A KeyboardInterrupt caught and dropped inside a command (as numba's JIT does) still ends the
    command with exit code 130."""
    import signal

    from medstrata import cli

    def swallowing(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            pass
        return 0

    monkeypatch.setattr(cli, "_cmd_list", swallowing)
    assert main(["list"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_a_bug_gives_a_short_report_and_the_traceback_only_with_debug(monkeypatch, capsys):
    from medstrata import cli

    def buggy(args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(cli, "_cmd_list", buggy)
    assert main(["list"]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: boom" in err and "--debug" in err and "Traceback" not in err
    with pytest.raises(ZeroDivisionError):
        main(["list", "--debug"])


def _flip_byte(path: pathlib.Path) -> None:
    data = bytearray(path.read_bytes())
    data[-7] ^= 0xFF
    path.write_bytes(bytes(data))


def test_table_has_at_least_40_cases():
    assert len(RUN_CASES) + len(BUILD_CASES) + len(ID_CASES) >= 40
    assert json.dumps([c[0] for c in RUN_CASES + BUILD_CASES + ID_CASES])  # ids are unique strings
    assert len({c[0] for c in RUN_CASES + BUILD_CASES + ID_CASES}) == len(RUN_CASES + BUILD_CASES + ID_CASES)


def test_build_sweeps_a_temp_folder_left_by_a_killed_build(monkeypatch, capsys, _isolated_home):
    """kill -9 during ``build`` leaves ``tasks/.<id>.<random>``; the next build removes it."""
    _patch_source(monkeypatch)
    stale = _isolated_home / "tasks" / ".0123456789abcdef.k1ll3d"
    stale.mkdir(parents=True)
    (stale / "images.npy").write_bytes(b"half")
    assert main(BUILD) == 0
    assert not stale.exists()
