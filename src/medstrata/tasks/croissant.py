"""Metadata of an exported task: licence, citation, Croissant JSON-LD and the dataset card.

* The licence is inherited from the MedMNIST source (``medmnist.INFO[flag]["license"]``): CC BY 4.0,
  except DermaMNIST (CC BY-NC 4.0). A task is a derivative work of its source file.
* Croissant 1.0 (MLCommons, http://mlcommons.org/croissant/1.0): ``url`` is the content-addressed
  URN ``urn:medstrata:task:<task id>`` (an export has no web home of its own), ``isBasedOn`` the
  official source file URL; ``datePublished`` is left out on purpose (it would make two exports of
  the same task differ; mlcroissant reports it as a recommendation, not an error). One ``cr:FileObject`` per Parquet
  file with its SHA-256, and one ``cr:RecordSet`` per split whose fields point at the file's columns
  (``source.fileObject`` + ``source.extract.column``). A separate RecordSet per split is needed
  because a field reads from exactly one file.
* The card is a Hugging Face dataset card: YAML front matter (licence, task category, configs with
  the data files of each split, ``dataset_info`` with the features) followed by Markdown.

Nothing here writes a date or a path of this machine, so the metadata is a function of the task.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from medstrata import BUILDER_VERSION, __version__
from medstrata.data import info as minfo
from medstrata.data.source import SPLITS
from medstrata.tasks.store import Task

CROISSANT_CONTEXT: dict[str, Any] = {
    "@language": "en", "@vocab": "https://schema.org/", "citeAs": "cr:citeAs", "column": "cr:column",
    "conformsTo": "dct:conformsTo", "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/", "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "dct": "http://purl.org/dc/terms/",
    "examples": {"@id": "cr:examples", "@type": "@json"}, "extract": "cr:extract", "field": "cr:field",
    "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject", "fileSet": "cr:fileSet",
    "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField",
    "path": "cr:path", "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex",
    "repeated": "cr:repeated", "replace": "cr:replace", "sc": "https://schema.org/",
    "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField", "transform": "cr:transform",
    "equivalentProperty": "cr:equivalentProperty", "samplingRate": "cr:samplingRate",
}
CROISSANT_1_0 = "http://mlcommons.org/croissant/1.0"
MEDMNIST_URL = "https://medmnist.com/"

MEDMNIST_BIBTEX = """@article{medmnistv2,
  title     = {MedMNIST v2 -- A large-scale lightweight benchmark for 2D and 3D biomedical image classification},
  author    = {Yang, Jiancheng and Shi, Rui and Wei, Donglai and Liu, Zequan and Zhao, Lin and Ke, Bilian and Pfister, Hanspeter and Ni, Bingbing},
  journal   = {Scientific Data},
  volume    = {10},
  number    = {1},
  pages     = {41},
  year      = {2023},
  doi       = {10.1038/s41597-022-01721-8}
}"""


def licence_id(flag: str) -> str:
    """Hugging Face licence id of the source, e.g. ``"CC BY-NC 4.0"`` -> ``"cc-by-nc-4.0"``."""
    return minfo.licence(flag).strip().lower().replace(" ", "-")


def licence_url(flag: str) -> str:
    """Creative Commons deed URL of the source licence, e.g. ``https://creativecommons.org/licenses/by/4.0/``."""
    parts = licence_id(flag).split("-")
    if parts[0] != "cc" or len(parts) < 3:
        raise ValueError(f"unexpected licence {minfo.licence(flag)!r} for {flag}")
    return f"https://creativecommons.org/licenses/{'-'.join(parts[1:-1])}/{parts[-1]}/"


def title(task: Task) -> str:
    src = task.info["source"]
    kinds = ", ".join(s["kind"] for s in task.info["strata"]) or "no strata"
    return f"MedStrata task {task.task_id}: {src['flag']} ({src['size']} px) with {kinds}"


def task_bibtex(task: Task) -> str:
    """A BibTeX ``@misc`` entry for the task; key and note carry the task id."""
    src = task.info["source"]
    tex_title = title(task).replace("_", r"\_")
    return (
        f"@misc{{medstrata_{task.task_id},\n"
        f"  title        = {{{{{tex_title}}}}},\n"
        f"  author       = {{{{MedStrata contributors}}}},\n"
        f"  howpublished = {{MedStrata task export, task id {task.task_id}}},\n"
        f"  note         = {{Task {task.task_id}, builder version {task.info['builder_version']}, "
        f"built from {src['file']} (SHA-256 {src['sha256']}) of MedMNIST}}\n}}"
    )


def citation(task: Task) -> str:
    return task_bibtex(task) + "\n\n" + MEDMNIST_BIBTEX


def _description(task: Task) -> str:
    src = task.info["source"]
    names = "; ".join(f"{s['kind']}: " + ", ".join(s["names"].values()) for s in task.info["strata"]) or "none"
    return (
        f"A MedStrata hidden-stratification task built from the official MedMNIST file {src['file']} "
        f"(flag {src['flag']}, {src['size']} px, MD5 {src['md5']}). Target: {task.info['spec']['target']['kind']} "
        f"({', '.join(task.class_names)}). Injected strata: {names}. Stratum membership is ground truth "
        f"for evaluation only."
    )


def _field(rs: str, name: str, dtype: str, file_id: str, description: str, ref: str | None = None) -> dict:
    out = {
        "@type": "cr:Field", "@id": f"{rs}/{name}", "name": name, "description": description,
        "dataType": dtype, "source": {"fileObject": {"@id": file_id}, "extract": {"column": name}},
    }
    if ref:
        out["references"] = {"field": {"@id": f"{ref}/id"}}
    return out


def _enum_set(rs: str, names: list[str], description: str) -> dict:
    """An inline RecordSet ``{id, name}`` that label and stratum fields reference."""
    return {
        "@type": "cr:RecordSet", "@id": rs, "name": rs, "description": description, "key": {"@id": f"{rs}/id"},
        "field": [{"@type": "cr:Field", "@id": f"{rs}/id", "name": "id", "dataType": "sc:Integer"},
                  {"@type": "cr:Field", "@id": f"{rs}/name", "name": "name", "dataType": "sc:Text"}],
        "data": [{f"{rs}/id": i, f"{rs}/name": n} for i, n in enumerate(names)],
    }


def _stratum_names(entry: dict) -> list[str]:
    names = {0: "non-member", **{int(k): v for k, v in entry["names"].items()}}
    return [names.get(i, f"sub-stratum {i}") for i in range(max(names) + 1)]


def _fields(task: Task, rs: str, file_id: str) -> list[dict]:
    out = [
        _field(rs, "sample_id", "sc:Text", file_id, "stable sample id <flag>-<size>-<split>-<index>; join key"),
        _field(rs, "label", "sc:Integer", file_id, "observed task label", ref="classes"),
        _field(rs, "clean_label", "sc:Integer", file_id, "task label before label noise", ref="classes"),
        _field(rs, "split", "sc:Text", file_id, "task split (train, val or test)"),
        _field(rs, "source_index", "sc:Integer", file_id, "row index in the official split"),
    ]
    if task.info["source"]["image_kind"] != "3d":
        img = _field(rs, "image", "sc:ImageObject", file_id, "the image (PNG bytes)")
        img["source"]["transform"] = {"jsonPath": "bytes"}
        out.append(img)
    for s in task.info["strata"]:
        kind = s["kind"]
        out.append(_field(rs, f"stratum_{kind}", "sc:Integer", file_id, f"{kind} membership (0 = non-member)", ref=f"strata_{kind}"))
        out.append(_field(rs, f"params_{kind}", "sc:Text", file_id, f"{kind} parameters applied to this sample (JSON)"))
    return out


def croissant_metadata(task: Task, features: Any, files: dict[str, dict]) -> dict:
    """Croissant 1.0 JSON-LD of an export. ``files``: split -> {"rows", "sha256", "file_bytes", ...}.

    RecordSets: ``classes`` and ``strata_<kind>`` (inline id -> name tables) and one per split
    (``train``, ``val``, ``test``) reading its Parquet file. 3-D volumes are not described as a
    field (Croissant 1.0 has no array type); they are in the ``image`` column of the files.
    """
    flag = task.info["source"]["flag"]
    dist = [{
        "@type": "cr:FileObject", "@id": f"{split}-parquet", "name": f"{split}-parquet",
        "description": f"{split} split, {files[split]['rows']} rows", "contentUrl": f"data/{split}.parquet",
        "contentSize": f"{files[split]['file_bytes']} B", "encodingFormat": "application/x-parquet",
        "sha256": files[split]["sha256"],
    } for split in SPLITS]
    enums = [_enum_set("classes", list(task.class_names), "task classes")]
    enums += [_enum_set(f"strata_{s['kind']}", _stratum_names(s), f"sub-strata of {s['kind']}") for s in task.info["strata"]]
    record_sets = [{
        "@type": "cr:RecordSet", "@id": split, "name": split, "description": f"samples of the {split} split",
        "key": {"@id": f"{split}/sample_id"}, "field": _fields(task, split, f"{split}-parquet"),
    } for split in SPLITS]
    return {
        "@context": CROISSANT_CONTEXT, "@type": "sc:Dataset", "conformsTo": CROISSANT_1_0,
        "name": f"medstrata-{task.task_id}", "description": _description(task),
        "license": licence_url(flag), "url": f"urn:medstrata:task:{task.task_id}",
        "version": f"{BUILDER_VERSION}.0.0", "citeAs": citation(task),
        "isBasedOn": minfo.url_and_md5(flag, task.info["source"]["size"])[0],
        "keywords": ["medical imaging", "hidden stratification", "MedMNIST", flag],
        "distribution": dist, "recordSet": enums + record_sets,
    }


# ---------------------------------------------------------------- dataset card


def _size_category(n: int) -> str:
    for lo, hi, label in ((0, 1_000, "n<1K"), (1_000, 10_000, "1K<n<10K"), (10_000, 100_000, "10K<n<100K")):
        if lo <= n < hi:
            return label
    return "100K<n<1M" if n < 1_000_000 else "n>1M"


def card_yaml(task: Task, features: Any, files: dict[str, dict]) -> dict:
    """The YAML front matter of the card (HF dataset card metadata)."""
    from datasets import DatasetInfo
    from datasets.splits import SplitDict, SplitInfo

    splits = SplitDict()
    for split in SPLITS:
        splits.add(SplitInfo(name=split, num_bytes=files[split]["num_bytes"], num_examples=files[split]["rows"]))
    info = DatasetInfo(features=features, splits=splits)._to_yaml_dict()
    info["download_size"] = sum(f["file_bytes"] for f in files.values())
    info["dataset_size"] = sum(f["num_bytes"] for f in files.values())
    flag = task.info["source"]["flag"]
    return {
        "license": licence_id(flag), "task_categories": ["image-classification"],
        "pretty_name": title(task), "size_categories": [_size_category(sum(f["rows"] for f in files.values()))],
        "tags": ["medical", "medmnist", "hidden-stratification", "medstrata"],
        "configs": [{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}.parquet"} for s in SPLITS]}],
        "dataset_info": info,
    }


def _cli_value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def rebuild_command(task: Task) -> str:
    """The ``medstrata build`` line that rebuilds this task (every resolved parameter stated)."""
    spec = task.info["spec"]
    parts = [f"dataset={spec['dataset']}", f"size={spec['size']}", f"seed={spec['seed']}", f"target={spec['target']['kind']}"]
    parts.append("stratum=" + (",".join(s["kind"] for s in spec["strata"]) or "none"))
    for s in spec["strata"]:
        parts += [f"stratum.{s['kind']}.{k}={_cli_value(v)}" for k, v in sorted(s["params"].items())]
    return "medstrata build " + " ".join(parts)


def _strata_section(task: Task, strata_counts: dict) -> list[str]:
    lines = ["## Strata", ""]
    if not task.info["strata"]:
        return lines + ["This task has no injected strata.", ""]
    for s in task.info["strata"]:
        col = f"stratum_{s['kind']}"
        lines += [f"### `{s['kind']}` (column `{col}`)", "", "| id | name | " + " | ".join(SPLITS) + " |",
                  "|---|---|" + "---|" * len(SPLITS)]
        names = {"0": "non-member", **s["names"]}
        for k, name in names.items():
            cells = [str(strata_counts[col][sp].get(int(k), 0)) for sp in SPLITS]
            lines.append(f"| {k} | {name} | " + " | ".join(cells) + " |")
        lines += ["", "Parameters: `" + json.dumps(s["params"], sort_keys=True) + "`", "",
                  "Build summary: `" + json.dumps(s["summary"], sort_keys=True) + "`", ""]
    return lines


def _counts_section(task: Task, files: dict[str, dict]) -> list[str]:
    lines = ["## Counts", "", "| split | rows | " + " | ".join(f"label {n}" for n in task.class_names) + " |",
             "|---|---|" + "---|" * len(task.class_names)]
    for split in SPLITS:
        labels = task.manifest["label"].to_numpy()[task.split_index(split)]
        cells = [str(int((labels == c).sum())) for c in range(len(task.class_names))]
        lines.append(f"| {split} | {files[split]['rows']} | " + " | ".join(cells) + " |")
    return lines + [""]


def dataset_card(task: Task, features: Any, files: dict[str, dict], strata_counts: dict) -> str:
    """README.md of the export: YAML front matter + how the task was built, strata, licence, citation."""
    src, flag = task.info["source"], task.info["source"]["flag"]
    front = yaml.safe_dump(card_yaml(task, features, files), sort_keys=False, allow_unicode=True, width=1000)
    lines = ["---", front.rstrip(), "---", "", f"# {title(task)}", "", _description(task), "",
             "## How it was built", "",
             f"- Task id: `{task.task_id}` (content hash of the resolved spec, the source SHA-256 and the builder version)",
             f"- Builder: MedStrata {__version__}, task builder version {task.info['builder_version']}",
             f"- Source file: `{src['file']}` (MedMNIST flag `{flag}`, {src['size']} px, {src['image_kind']}, medmnist INFO {minfo.medmnist_version()})",
             f"- Source MD5: `{src['md5']}`", f"- Source SHA-256: `{src['sha256']}`",
             f"- Target: `{task.info['spec']['target']['kind']}`, classes: " + ", ".join(f"{i} = {n}" for i, n in enumerate(task.class_names)),
             "", "Rebuild and check:", "", "```", rebuild_command(task), f"medstrata verify {task.task_id}", "```", "",
             "Resolved spec:", "", "```json", json.dumps(task.info["spec"], indent=2, sort_keys=True), "```", ""]
    lines += _strata_section(task, strata_counts) + _counts_section(task, files)
    lines += ["## Columns", "",
              "`sample_id` (join key), `image` (" + ("uint8 volume D x H x W, `Array3D`" if src["image_kind"] == "3d" else "PNG, `Image`")
              + "), `label` (observed), `clean_label` (before label noise), `split`, `source_split`, `source_index`, "
              "`source_label` (official label; -1 for multi-label sources), `stratum_<kind>` (0 = non-member), "
              "`params_<kind>` (applied parameters, JSON). Strata are hidden ground truth: a discovery method must not read them.", "",
              "## Licence", "",
              f"Inherited from the source: MedMNIST `{flag}` is released under {minfo.licence(flag)} ({licence_url(flag)}). "
              "This task is a derivative of that file and carries the same licence; please also cite the "
              f"original source dataset of `{flag}` as listed on {MEDMNIST_URL}.", "",
              "## Citation", "", "```bibtex", citation(task), "```", ""]
    return "\n".join(lines)

