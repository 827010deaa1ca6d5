"""Drawing of the ``spurious_marker`` artifacts: text tags as boolean 2-D masks, blended into images.

Tags are 5x3 bitmaps of letters, the stand-in for the tokens burned into radiographs (laterality
"R", portable-film "P"; Zech et al. 2018 showed CNNs read them to recognise the hospital). The pair
used by ``spurious_marker`` has the *same ink* (10 pixels in the same 5x3 box), so the spurious
tag and the distractor tag can only be told apart by their shape.

:func:`tag_mask` returns an (H, W) bool mask; :func:`blend` writes a colour into a 2-D grey (H, W),
RGB (H, W, 3) or 3-D (D, H, W) uint8 image with an opacity (in 3-D the mask is drawn through every
depth slice, like a tag visible in every view). Pixels outside the mask are never changed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

GLYPHS: dict[str, np.ndarray] = {
    "P": np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=bool),
    "R": np.array([[1, 1, 0], [1, 0, 1], [1, 1, 0], [1, 0, 1], [1, 0, 1]], dtype=bool),
    "d": np.array([[0, 0, 1], [0, 0, 1], [1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool),
    "A": np.array([[0, 1, 0], [1, 0, 1], [1, 1, 1], [1, 0, 1], [1, 0, 1]], dtype=bool),
    "H": np.array([[1, 0, 1], [1, 0, 1], [1, 1, 1], [1, 0, 1], [1, 0, 1]], dtype=bool),
}


@lru_cache(maxsize=None)
def glyph(name: str, height: int) -> np.ndarray:
    """(height, round(0.6 * height)) bool bitmap of a tag letter, nearest-neighbour scaled from 5x3
    (read-only, cached)."""
    if name not in GLYPHS:
        raise ValueError(f"unknown tag glyph {name!r}; known: {', '.join(GLYPHS)}")
    if height < 5:
        raise ValueError(f"a tag needs a height of at least 5 pixels, got {height}")
    width = max(3, round(0.6 * height))
    g = GLYPHS[name][(np.arange(height) * 5) // height][:, (np.arange(width) * 3) // width]
    g.flags.writeable = False
    return g


def tag_mask(hw: tuple[int, int], name: str, height: int, row: int, col: int) -> np.ndarray:
    """(H, W) bool mask of glyph ``name`` of ``height`` px with its top-left corner at (row, col)."""
    g = glyph(name, height)
    if row < 0 or col < 0 or row + g.shape[0] > hw[0] or col + g.shape[1] > hw[1]:
        raise ValueError(f"tag {name} of height {height} at ({row}, {col}) does not fit an image of {hw}")
    m = np.zeros(hw, dtype=bool)
    m[row : row + g.shape[0], col : col + g.shape[1]] = g
    return m


def blend(image: np.ndarray, mask: np.ndarray, value, opacity: float, image_kind: str) -> np.ndarray:
    """Copy of ``image`` with ``(1 - opacity) * x + opacity * value`` (rounded) where ``mask`` is True.

    ``value`` is a grey level, or a list of 3 for RGB. Because the result is a convex combination of
    the pixel and a value taken from the image's own range, it never leaves that range.
    """
    out = image.copy()
    v = np.asarray(value, dtype=np.float64)
    if image_kind == "2d_rgb":
        region = out[mask, :].astype(np.float64)
        out[mask, :] = np.rint((1 - opacity) * region + opacity * v[None, :]).astype(np.uint8)
    elif image_kind == "3d":
        region = out[:, mask].astype(np.float64)
        out[:, mask] = np.rint((1 - opacity) * region + opacity * v).astype(np.uint8)
    else:
        out[mask] = np.rint((1 - opacity) * out[mask].astype(np.float64) + opacity * v).astype(np.uint8)
    return out
