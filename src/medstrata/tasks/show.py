"""``medstrata show <task id>``: a PNG montage that lets a person *see* each injected stratum.

For every stratum column and every sub-stratum id k >= 1 the montage has two rows: ``per_group``
members (``stratum == k``) and ``per_group`` non-members (``stratum == 0``) of the *same clean
class*, so the only systematic difference between the rows is the stratum. Each tile is captioned
with its split, source index and observed label (``y=1!0`` means observed 1, clean 0: a flipped label;
``src=5`` is the official label when the task predicts a superclass).

Choice of examples (deterministic, a pure function of the manifest): members of the dominant clean
class of the sub-stratum; those with a flipped label first (label noise is visible only in train and
val), then test before train before val, then the smallest SHA-256 of the sample id. Non-members
follow the split mix of the chosen members, then the same hash order.

Images are upscaled by an integer factor with nearest-neighbour sampling (28 px -> 112 px) so that
a 4-pixel marker stays crisp. A 3-D volume (D, H, W) is shown as its middle axial slice next to its
maximum-intensity projection along depth.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medstrata.tasks.store import Task, load_task

SPLIT_ORDER = ("test", "train", "val")
TILE_TARGET_PX = 112
PAD, GAP, LEFT_W, CAPTION_H, HEADER_H = 4, 10, 118, 28, 34
BG, FG, DIM, ACCENT = (255, 255, 255), (0, 0, 0), (90, 90, 90), (170, 0, 0)


@dataclass(frozen=True)
class Group:
    """One montage block: a title, member rows and non-member rows (manifest positions)."""

    title: str
    members: np.ndarray
    others: np.ndarray


def sample_hash(sample_ids: list[str]) -> np.ndarray:
    """(n,) int64 order keys: the first 8 bytes of SHA-256 of each sample id, shifted to be >= 0."""
    return np.array([int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big") >> 1 for s in sample_ids], dtype=np.int64)


def _split_rank(splits: np.ndarray, order: tuple[str, ...]) -> np.ndarray:
    return np.array([order.index(s) if s in order else len(order) for s in splits])


def pick_members(task: Task, col: str, k: int, n: int, keys: np.ndarray) -> np.ndarray:
    """Up to ``n`` manifest positions with ``col == k``, all of the dominant clean class."""
    m = task.manifest
    cand = np.flatnonzero(m[col].to_numpy() == k)
    if len(cand) == 0:
        return cand
    clean = m["clean_label"].to_numpy()[cand]
    values, counts = np.unique(clean, return_counts=True)
    cand = cand[clean == values[np.argmax(counts)]]
    flipped = (m["label"].to_numpy()[cand] != m["clean_label"].to_numpy()[cand]).astype(int)
    rank = _split_rank(m["split"].to_numpy()[cand], SPLIT_ORDER)
    order = np.lexsort((keys[cand], rank, -flipped))
    return cand[order[:n]]


def pick_others(task: Task, col: str, cls: int, n: int, keys: np.ndarray, member_splits: np.ndarray) -> np.ndarray:
    """Up to ``n`` non-members (``col == 0``) of clean class ``cls``, following the members' split mix."""
    m = task.manifest
    cand = np.flatnonzero((m[col].to_numpy() == 0) & (m["clean_label"].to_numpy() == cls))
    splits = m["split"].to_numpy()[cand]
    chosen: list[int] = []
    for split in member_splits.tolist():
        pool = cand[(splits == split) & ~np.isin(cand, chosen)]
        if len(pool):
            chosen.append(int(pool[np.argmin(keys[pool])]))
    rest = cand[~np.isin(cand, chosen)]
    rest = rest[np.lexsort((keys[rest], _split_rank(m["split"].to_numpy()[rest], SPLIT_ORDER)))]
    return np.concatenate([np.asarray(chosen, dtype=np.int64), rest[: max(0, n - len(chosen))]])[:n]


def stratum_groups(task: Task, per_group: int) -> list[Group]:
    """One :class:`Group` per (stratum column, sub-stratum id >= 1); per class when there are no strata."""
    keys = sample_hash(task.manifest["sample_id"].tolist())
    groups = []
    for entry in task.info["strata"]:
        col = f"stratum_{entry['kind']}"
        for k_str, name in sorted(entry["names"].items(), key=lambda kv: int(kv[0])):
            members = pick_members(task, col, int(k_str), per_group, keys)
            cls = int(task.manifest["clean_label"].to_numpy()[members[0]]) if len(members) else -1
            others = pick_others(task, col, cls, per_group, keys, task.manifest["split"].to_numpy()[members])
            cname = task.class_names[cls] if cls >= 0 else "-"
            groups.append(Group(f"{entry['kind']} = {k_str}: {name}   |   clean class {cls} ({cname})", members, others))
    if not groups:
        empty = np.zeros(0, dtype=np.int64)
        for c, cname in enumerate(task.class_names):
            rows = np.flatnonzero(task.manifest["clean_label"].to_numpy() == c)
            groups.append(Group(f"no strata: class {c} ({cname})", rows[np.argsort(keys[rows])][:per_group], empty))
    return groups


def image_tile(image: np.ndarray, image_kind: str, scale: int) -> np.ndarray:
    """Upscaled RGB tile, (h*scale, w', 3) uint8. 2-D grey (H, W) and RGB (H, W, 3) are repeated
    ``scale`` times per axis; a 3-D (D, H, W) volume becomes [middle slice | max projection]."""
    img = np.asarray(image)
    if image_kind == "3d":
        gap = np.full((img.shape[1], 1), 128, dtype=np.uint8)
        img = np.concatenate([img[img.shape[0] // 2], gap, img.max(axis=0)], axis=1)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1).astype(np.uint8)


def tile_scale(task: Task) -> int:
    """Integer upscale factor: 28 px -> 4 (2-D) or 3 (3-D, two panels); >= 1 always."""
    h = int(task.images.shape[-2] if task.info["source"]["image_kind"] != "2d_rgb" else task.images.shape[1])
    target = TILE_TARGET_PX if task.info["source"]["image_kind"] != "3d" else TILE_TARGET_PX * 3 // 4
    return max(1, -(-target // h))


def _caption(task: Task, row: int) -> list[str]:
    m = task.manifest.iloc[row]
    y, c = int(m["label"]), int(m["clean_label"])
    second = f"y={y}" if y == c else f"y={y}!{c}"
    if task.info["spec"]["target"]["kind"] != "official":
        second += f" src={int(m['source_label'])}"
    return [f"{m['split']} #{int(m['source_index'])}", second]


def _font(size: int = 12):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


@dataclass(frozen=True)
class Layout:
    """Pixel geometry of a montage. ``origin(g, row, j)`` is the top-left corner of tile ``j`` of
    row ``row`` (0 = members, 1 = non-members) of group ``g``; tiles are ``tile_w`` x ``tile_h``."""

    scale: int
    tile_w: int
    tile_h: int
    width: int
    n_groups: int

    @property
    def row_h(self) -> int:
        return self.tile_h + CAPTION_H

    @property
    def height(self) -> int:
        return HEADER_H + self.n_groups * (HEADER_H + 2 * self.row_h) + PAD

    def group_top(self, g: int) -> int:
        return HEADER_H + g * (HEADER_H + 2 * self.row_h)

    def origin(self, g: int, row: int, j: int) -> tuple[int, int]:
        return LEFT_W + j * (self.tile_w + GAP), self.group_top(g) + HEADER_H + row * self.row_h


def make_layout(task: Task, groups: list[Group], per_group: int) -> Layout:
    scale = tile_scale(task)
    tile = image_tile(task.images[0], task.info["source"]["image_kind"], scale)
    texts = [(_title(task), 13), (_legend(task), 11)] + [(g.title, 12) for g in groups]
    width = max([LEFT_W + per_group * (tile.shape[1] + GAP), 760] + [int(_font(f).getlength(t)) + 2 * PAD for t, f in texts])
    return Layout(scale=scale, tile_w=tile.shape[1], tile_h=tile.shape[0], width=width, n_groups=len(groups))


def _draw_row(canvas, draw, task: Task, rows: np.ndarray, lay: Layout, g: int, row: int) -> None:
    from PIL import Image

    x0, y0 = lay.origin(g, row, 0)
    draw.text((PAD, y0 + 4), ("members", "non-members,\nsame class")[row], fill=(ACCENT, FG)[row], font=_font(12))
    if len(rows) == 0:
        draw.text((x0, y0 + 4), "(none in this task)", fill=DIM, font=_font(12))
    kind = task.info["source"]["image_kind"]
    for j, r in enumerate(rows.tolist()):
        x, y = lay.origin(g, row, j)
        canvas.paste(Image.fromarray(image_tile(task.images[r], kind, lay.scale)), (x, y))
        flipped = task.manifest["label"].iat[r] != task.manifest["clean_label"].iat[r]
        for t, line in enumerate(_caption(task, r)):
            fill = ACCENT if flipped and t == 1 else DIM
            draw.text((x, y + lay.tile_h + 1 + 12 * t), line, fill=fill, font=_font(11))


def render_montage(task: Task, groups: list[Group], per_group: int):
    """Draw the montage; returns ``(PIL RGB image, Layout)``."""
    from PIL import Image, ImageDraw

    lay = make_layout(task, groups, per_group)
    canvas = Image.new("RGB", (lay.width, lay.height), BG)
    draw = ImageDraw.Draw(canvas)
    draw.text((PAD, 4), _title(task), fill=FG, font=_font(13))
    draw.text((PAD, 19), _legend(task), fill=DIM, font=_font(11))
    for g, group in enumerate(groups):
        top = lay.group_top(g)
        draw.line([(PAD, top + 2), (lay.width - PAD, top + 2)], fill=DIM)
        draw.text((PAD, top + 10), group.title, fill=FG, font=_font(12))
        _draw_row(canvas, draw, task, group.members, lay, g, 0)
        _draw_row(canvas, draw, task, group.others, lay, g, 1)
    return canvas, lay


def _title(task: Task) -> str:
    src = task.info["source"]
    kinds = ", ".join(s["kind"] for s in task.info["strata"]) or "no strata"
    return f"task {task.task_id}: {src['flag']} {src['size']} px ({src['image_kind']}), strata: {kinds}"


def _legend(task: Task) -> str:
    classes = ", ".join(f"{i}={n}" for i, n in enumerate(task.class_names))
    extra = "   3-D: left = middle axial slice, right = max projection" if task.info["source"]["image_kind"] == "3d" else ""
    return f"classes: {classes}   y=a!b: observed label a, clean label b (flipped){extra}"


def show_task(task_id: str, out: str | None, per_group: int = 6) -> str:
    """Write the montage PNG of a built task; returns its path.

    Args:
        task_id: id of a task under ``MEDSTRATA_HOME/tasks``.
        out: PNG path (default ``<task folder>/montage.png``).
        per_group: examples per row (members, and non-members of the same class).
    """
    if per_group < 1:
        raise ValueError(f"per_group must be >= 1, got {per_group}")
    task = load_task(task_id)
    path = Path(out).expanduser() if out else task.folder / "montage.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas, _ = render_montage(task, stratum_groups(task, per_group), per_group)
    canvas.save(path, format="PNG")
    return str(path)
