"""``medstrata list``: the MedMNIST flags with what is on disk, and the stratum kinds with their knobs.

Datasets: every flag of ``medmnist.INFO`` (18 in medmnist 3.0.2), its task type, default target,
the published sizes, the sizes found under the data root (``MEDSTRATA_DATA_ROOT``), the file name
and the checksum status of each local file: ``ok`` (MD5 equals the published one), ``MISMATCH``,
``present`` (not verified, with ``verify=False``) or ``missing``.

Strata: every registered kind with its parameters (type, default, range or choices, doc). Defaults
that depend on the dataset are shown resolved for a few example flags.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

from medstrata import paths
from medstrata.data import info as minfo
from medstrata.errors import MedStrataError
from medstrata.strata import get_injector, list_strata
from medstrata.strata.base import Param
from medstrata.tasks.target import default_target, resolve_target

EXAMPLE_FLAGS = ("bloodmnist", "pneumoniamnist", "organamnist")


def md5_file(path: Path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file, read in chunks (the 224-px files are several GB)."""
    h = hashlib.md5()  # noqa: S324 (MedMNIST publishes MD5)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_status(flag: str, size: int, root: Path, verify: bool = True) -> str:
    """``ok`` / ``MISMATCH`` / ``present`` (not verified) / ``missing`` for one official file."""
    path = root / minfo.file_name(flag, size)
    if not path.is_file():
        return "missing"
    if not verify:
        return "present"
    return "ok" if md5_file(path) == minfo.url_and_md5(flag, size)[1] else "MISMATCH"


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Plain-text table with left-aligned columns, as lines."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths))]
    return lines + [fmt.format(*map(str, r)).rstrip() for r in rows]


def dataset_rows(root: Path, verify: bool = True) -> list[list[str]]:
    """One row per flag: flag, dim, task, classes, default target, sizes, local sizes, files, status."""
    rows = []
    for flag in minfo.flags():
        meta, sizes = minfo.info(flag), minfo.supported_sizes(flag)
        status = {s: file_status(flag, s, root, verify) for s in sizes}
        local = [s for s in sizes if status[s] != "missing"]
        files = [minfo.file_name(flag, s) for s in local] or [minfo.file_name(flag, 28)]
        checks = [status[s] for s in local] or ["missing"]
        rows.append([flag, "3D" if minfo.is_3d(flag) else "2D", meta["task"], str(len(meta["label"])),
                     default_target(flag), ",".join(map(str, sizes)), ",".join(map(str, local)) or "-",
                     ", ".join(files), ", ".join(checks)])
    return rows


def _range(p: Param) -> str:
    if p.choices is not None:
        return "{" + ", ".join(map(str, p.choices)) + "}"
    if p.low is None and p.high is None:
        return "-"
    low = "-inf" if p.low is None else f"{p.low:g}"
    high = "inf" if p.high is None else f"{p.high:g}"
    return f"[{low}, {high}]"


def dataset_dependent(kind: str, flags: tuple[str, ...] = EXAMPLE_FLAGS) -> dict[str, dict[str, object]]:
    """{param: {flag: resolved default}} for the parameters whose default differs between ``flags``
    or from the static default (resolved with each flag's default target)."""
    injector = get_injector(kind)
    resolved: dict[str, dict] = {}
    for flag in flags:
        try:
            resolved[flag] = injector.resolve({}, flag, resolve_target(flag, None))
        except MedStrataError:
            resolved[flag] = {**{n: p.default for n, p in injector.params.items()}, **injector.dataset_defaults(flag, resolve_target(flag, None))}
    out = {}
    for name, p in injector.params.items():
        values = {flag: resolved[flag].get(name, p.default) for flag in flags}  # added_later knobs may be absent
        if any(v != p.default for v in values.values()):
            out[name] = values
    return out


def _default(name: str, p: Param, dependent: dict[str, dict[str, object]]) -> str:
    return f"{p.default!r} *" if name in dependent else repr(p.default)


def _summary(kind: str) -> str:
    doc = inspect.getdoc(inspect.getmodule(type(get_injector(kind)))) or ""
    first = doc.split("\n\n")[0].replace("\n", " ")
    return first.split(": ", 1)[1] if first.startswith("``") and ": " in first else first


def strata_lines(flags: tuple[str, ...] = EXAMPLE_FLAGS) -> list[str]:
    """The stratum kinds, each with a parameter table."""
    lines = []
    for kind in list_strata():
        injector = get_injector(kind)
        dependent = dataset_dependent(kind, flags)
        lines += ["", f"{kind}: {_summary(kind)}", f"  image kinds: {', '.join(injector.image_kinds)}"]
        rows = [[name, p.type.__name__ + (" | None" if p.nullable else ""), _default(name, p, dependent), _range(p), p.doc]
                for name, p in injector.params.items()]
        lines += ["  " + line for line in table(["param", "type", "default", "range/choices", "doc"], rows)]
        for name, values in dependent.items():
            lines.append(f"  * {name} depends on the dataset: " + ", ".join(f"{f} -> {v!r}" for f, v in values.items()))
    return lines


def render_listing(verify: bool = True) -> str:
    """The text of ``medstrata list``.

    Args:
        verify: check the MD5 of every local file (reads each file once); False only tests presence.
    """
    root = paths.data_root()
    rows = dataset_rows(root, verify)
    n_local = sum(1 for r in rows if r[6] != "-")
    head = [f"MedMNIST datasets (medmnist INFO {minfo.medmnist_version()}); data root: {root}"
            f"{'' if root.is_dir() else ' (does not exist)'}; {n_local} of {len(rows)} flags found locally"
            f"{'' if verify else '; checksums not verified (--no-checksum)'}", ""]
    headers = ["flag", "dim", "task", "classes", "target", "sizes", "local", "file", "checksum"]
    lines = head + table(headers, rows) + ["", f"Stratum kinds ({len(list_strata())}); set with "
                                          "stratum=<kind> and stratum.<kind>.<param>=<value>:"]
    return "\n".join(lines + strata_lines())
