"""Drawing of visible artifacts (the ``spurious_marker`` shapes) as boolean 2-D masks.

Each function returns an (H, W) bool mask; :func:`stamp` writes it into a 2-D grey (H, W), RGB
(H, W, 3) or 3-D (D, H, W) uint8 image (in 3-D the mask is drawn through every depth slice, like a
tube or tag visible in every view).
"""

from __future__ import annotations

import numpy as np

# A 5x3 bitmap of the letter "R", a stand-in for the text tags burned into radiographs.
_GLYPH_R = np.array([[1, 1, 0], [1, 0, 1], [1, 1, 0], [1, 0, 1], [1, 0, 1]], dtype=bool)


def square_mask(hw: tuple[int, int], s: int) -> np.ndarray:
    """A solid s x s square one pixel in from the top-left corner."""
    m = np.zeros(hw, dtype=bool)
    m[1 : 1 + s, 1 : 1 + s] = True
    return m


def glyph_mask(hw: tuple[int, int], s: int) -> np.ndarray:
    """The "R" glyph scaled so its height is about ``s + 1`` pixels, in the top-right corner."""
    scale = max(1, round((s + 1) / 5))
    g = np.kron(_GLYPH_R, np.ones((scale, scale), dtype=bool))
    m = np.zeros(hw, dtype=bool)
    m[1 : 1 + g.shape[0], hw[1] - 1 - g.shape[1] : hw[1] - 1] = g
    return m


def line_mask(hw: tuple[int, int], width: int, start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
    """A straight line (a chest-drain-like tube) from ``start`` to ``end`` in fractional (row, col)."""
    h, w = hw
    rr, cc = np.mgrid[0:h, 0:w]
    p0 = np.array([start[0] * (h - 1), start[1] * (w - 1)])
    p1 = np.array([end[0] * (h - 1), end[1] * (w - 1)])
    d = p1 - p0
    t = np.clip(((rr - p0[0]) * d[0] + (cc - p0[1]) * d[1]) / max(float(d @ d), 1e-9), 0, 1)
    dist = np.hypot(rr - (p0[0] + t * d[0]), cc - (p0[1] + t * d[1]))
    return dist <= width / 2


def stamp(image: np.ndarray, mask: np.ndarray, value: int, image_kind: str) -> np.ndarray:
    """Copy of ``image`` with ``value`` written where ``mask`` is True (all channels / all slices)."""
    out = image.copy()
    if image_kind == "2d_rgb":
        out[mask, :] = value
    elif image_kind == "3d":
        out[:, mask] = value
    else:
        out[mask] = value
    return out
