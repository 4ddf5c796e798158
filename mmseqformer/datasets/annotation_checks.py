"""Checks of YouTube-VIS / CocoVID annotation content shared by the datasets and the offline converters.

:mod:`mmseqformer.datasets.cocovid_check` validates CocoVID files before training or testing and
:mod:`mmseqformer.converters.ytvis_converter` validates official files while converting them, with the same
rules: ids are unique, boxes ``[x, y, w, h]`` have a positive size and lie inside the image (``BOX_TOLERANCE``
px slack), a polygon part has at least 3 points and does not cross, touch or fold back onto itself (pycocotools
would fill such a polygon by the even-odd rule, leaving holes where the annotator meant none), an RLE has the
image's size. Every problem raises :class:`YTVISFormatError` with a message naming the file and the item.

Only the standard library is imported.
"""
from __future__ import annotations

import json
import math
import numbers
from typing import Any, List, Optional, Tuple


BOX_TOLERANCE = 1.0  # px a box may reach past the image border (rounding in mask -> box conversions)


class YTVISFormatError(ValueError):
    """A YouTube-VIS/OVIS or CocoVID annotation file is malformed; the message names the file and the problem."""


def require_keys(obj: Any, keys: Tuple[str, ...], what: str, source: str) -> None:
    """Raise unless ``obj`` (``what`` in file ``source``, for the message) is a dict holding every key."""
    if not isinstance(obj, dict):
        raise YTVISFormatError(f'{source}: {what} is not an object')
    missing = [k for k in keys if k not in obj]
    if missing:
        raise YTVISFormatError(f'{source}: {what} lacks key(s) {", ".join(missing)}')


def check_unique_ids(items: List[dict], what: str, source: str) -> None:
    """Raise for the first repeated ``id`` among ``items`` (``what``: e.g. 'video', for the message)."""
    seen = set()
    for item in items:
        if item['id'] in seen:
            raise YTVISFormatError(f'{source}: duplicate {what} id {item["id"]!r}')
        seen.add(item['id'])


def is_positive_int(value: Any) -> bool:
    """An integer > 0 (a bool is not one)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def is_finite_number(value: Any) -> bool:
    """A finite real number (a bool is not one)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_box(bbox: List[Any], width: Any, height: Any, where: str) -> None:
    """``[x, y, w, h]`` with w, h > 0 inside the ``width`` x ``height`` image (``BOX_TOLERANCE`` px slack)."""
    if not all(is_finite_number(v) for v in bbox):
        raise YTVISFormatError(f'{where}: box {bbox!r} is not 4 finite numbers')
    x, y, w, h = bbox
    if w <= 0 or h <= 0:
        raise YTVISFormatError(f'{where}: box {bbox!r} has a non-positive width or height')
    tol = BOX_TOLERANCE
    if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
        raise YTVISFormatError(f'{where}: box {bbox!r} (x, y, w, h) lies outside the {width}x{height} image')


def _orient(a: Tuple[float, float], b: Tuple[float, float], c: Tuple[float, float]) -> int:
    v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return (v > 0) - (v < 0)


def _within(a: Tuple[float, float], b: Tuple[float, float], p: Tuple[float, float]) -> bool:
    """Whether ``p``, collinear with segment ab, lies on it."""
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _segments_meet(a, b, c, d) -> bool:
    """Whether closed segments ab and cd share a point."""
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if o1 * o2 < 0 and o3 * o4 < 0:
        return True
    return ((o1 == 0 and _within(a, b, c)) or (o2 == 0 and _within(a, b, d)) or (o3 == 0 and _within(c, d, a))
            or (o4 == 0 and _within(c, d, b)))


def polygon_self_intersection(coords: List[float]) -> Optional[Tuple[int, int]]:
    """First pair of edges (i, j) of a closed polygon ``[x1, y1, x2, y2, ...]`` that cross, touch or fold back.

    Edge i runs from point i to point i + 1 (the last one back to the first); repeated consecutive points are
    merged first. Adjacent edges may only share their common vertex. Returns None for a simple polygon.
    O(n^2) in the number of points, with a bounding-box test first (annotation polygons have tens of points).
    """
    pts: List[Tuple[float, float]] = []
    for p in zip(coords[0::2], coords[1::2]):
        if not pts or p != pts[-1]:
            pts.append(p)
    while len(pts) > 1 and pts[-1] == pts[0]:
        pts.pop()
    n = len(pts)
    if n < 3:
        return None
    edges = [(pts[i], pts[(i + 1) % n]) for i in range(n)]
    boxes = [(min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])) for a, b in edges]
    for i in range(n):
        a, b = edges[i]
        # folding back onto the previous edge: collinear and pointing the other way
        pa, pb = edges[i - 1]
        if _orient(pa, pb, b) == 0 and (pb[0] - pa[0]) * (b[0] - a[0]) + (pb[1] - pa[1]) * (b[1] - a[1]) < 0:
            return ((i - 1) % n, i)
        bi = boxes[i]
        for j in range(i + 2, n if i else n - 1):
            bj = boxes[j]
            if bi[0] > bj[2] or bj[0] > bi[2] or bi[1] > bj[3] or bj[1] > bi[3]:
                continue
            if _segments_meet(a, b, *edges[j]):
                return (i, j)
    return None


def check_segmentation(seg: Any, width: Any, height: Any, where: str) -> None:
    """A polygon list (each part >= 3 points) or an RLE dict of size ``[height, width]``."""
    if isinstance(seg, dict):
        if 'size' not in seg or 'counts' not in seg:
            raise YTVISFormatError(f'{where}: RLE segmentation lacks "size" or "counts"')
        if not isinstance(seg['counts'], (str, list)):
            raise YTVISFormatError(f'{where}: RLE counts must be a string or a list of numbers')
        if not isinstance(seg['size'], (list, tuple)) or list(seg['size']) != [height, width]:
            raise YTVISFormatError(f'{where}: RLE size {seg["size"]!r} differs from the video size '
                                   f'[height, width] = [{height}, {width}]')
    elif isinstance(seg, list):
        if not seg:
            raise YTVISFormatError(f'{where}: empty polygon list')
        for part in seg:
            if not isinstance(part, list) or not all(is_finite_number(v) for v in part):
                raise YTVISFormatError(f'{where}: a polygon must be a list of numbers [x1, y1, x2, y2, ...]')
            if len(part) < 6 or len(part) % 2:
                raise YTVISFormatError(f'{where}: empty or degenerate polygon ({len(part)} numbers; a polygon '
                                       'needs an even count of at least 6, i.e. 3 points)')
            crossing = polygon_self_intersection(part)
            if crossing is not None:
                raise YTVISFormatError(f'{where}: self-intersecting polygon (its edges {crossing[0] + 1} and '
                                       f'{crossing[1] + 1} meet; edge k joins points k and k + 1)')
    else:
        raise YTVISFormatError(f'{where}: segmentation is a {type(seg).__name__}, not a polygon list or RLE dict')


def load_json(path: str) -> Any:
    """Read a json file, raising :class:`YTVISFormatError` (naming the file) if it is not valid json."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise YTVISFormatError(f'{path}: not valid JSON ({e})') from e
