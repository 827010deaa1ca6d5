"""The ``medstrata`` command line.

Subcommands: ``build``, ``verify``, ``show``, ``list``, ``export`` (task builder) and ``run``
(the benchmark). User errors print one ``error:`` paragraph and exit non-zero without a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time

from medstrata.errors import MedStrataError

BUILD_HELP = """\
Build a task from key=value overrides, e.g.
  medstrata build dataset=bloodmnist stratum=rare_subclass seed=0 stratum.p=0.05
  medstrata build dataset=pneumoniamnist stratum=label_noise,spurious_marker stratum.label_noise.r=0.3
The last line of stdout is the task id. See `medstrata list` for kinds and parameters."""


def _cmd_build(args: argparse.Namespace) -> int:
    from medstrata.data.source import load_source
    from medstrata.tasks.build import build_task
    from medstrata.tasks.spec import parse_overrides
    from medstrata.tasks.store import save_task

    spec = parse_overrides(args.overrides)
    source = load_source(spec.dataset, spec.size)
    t0 = time.perf_counter()
    task = build_task(spec, source)
    folder = save_task(task, overwrite=args.force)
    elapsed = time.perf_counter() - t0
    counts = ", ".join(f"{k} {v}" for k, v in task.info["counts"].items())
    print(f"built {spec.dataset} [{', '.join(k for k, _ in spec.strata) or 'no strata'}] in {elapsed:.2f} s: {counts}")
    for s in task.info["strata"]:
        print(f"  {s['kind']}: " + "; ".join(f"{k}={v}" for k, v in s["names"].items()))
    print(f"  folder: {folder}")
    print(task.task_id)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from medstrata.tasks.verify import verify_task

    problems = verify_task(args.task_id)
    if problems:
        print(f"verify {args.task_id}: DIFFERENT")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"verify {args.task_id}: identical (rebuilt from the official bytes)")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from medstrata.tasks.show import show_task

    print(show_task(args.task_id, args.out, per_group=args.n))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from medstrata.tasks.listing import render_listing

    print(render_listing(verify=not args.no_checksum))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from medstrata.tasks.export import export_task

    print(export_task(args.task_id, args.out))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from medstrata.bench.app import run_app

    return run_app(args.overrides)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medstrata", description="MedStrata: hidden-stratification benchmark on MedMNIST.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build a task with injected strata", description=BUILD_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("overrides", nargs="*", help="key=value overrides")
    b.add_argument("--force", action="store_true", help="rebuild even if the task folder exists")
    b.set_defaults(func=_cmd_build)
    v = sub.add_parser("verify", help="rebuild a task from the official bytes and compare")
    v.add_argument("task_id")
    v.set_defaults(func=_cmd_verify)
    s = sub.add_parser("show", help="write a PNG montage of each stratum next to non-members")
    s.add_argument("task_id")
    s.add_argument("--out", default=None, help="PNG path (default: <task folder>/montage.png)")
    s.add_argument("-n", type=int, default=6, help="examples per group")
    s.set_defaults(func=_cmd_show)
    ls = sub.add_parser("list", help="datasets found locally and stratum kinds with their parameters")
    ls.add_argument("--no-checksum", action="store_true", help="skip MD5 verification of local files")
    ls.set_defaults(func=_cmd_list)
    e = sub.add_parser("export", help="export a task as Hugging Face Parquet + dataset card + Croissant")
    e.add_argument("task_id")
    e.add_argument("--out", default=None, help="output folder (default: <task folder>/export)")
    e.set_defaults(func=_cmd_export)
    r = sub.add_parser("run", help="run a benchmark suite (Hydra overrides, e.g. suite=quick)", add_help=False)
    r.add_argument("overrides", nargs=argparse.REMAINDER)
    r.set_defaults(func=_cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MedStrataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `medstrata list | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
