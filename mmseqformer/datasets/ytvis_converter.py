"""Convert official YouTube-VIS (2019/2021) and OVIS json files to the CocoVID layout that mmdet 3.x's
``YouTubeVISDataset`` reads.

CocoVID layout::

    videos:      [{id, name, width, height}]
    images:      [{id, file_name, height, width, frame_id, video_id}]        one per frame, ids global 1..N
    annotations: [{id, video_id, image_id, category_id, instance_id, bbox, segmentation, area, iscrowd}]
                 one per (instance, frame) where the official bboxes[frame] is not None
    categories:  copied

Every frame an annotation is present in (``bboxes[frame]`` not None) is checked against its video: the box
must have a positive width and height and lie inside the image (1 px tolerance), a polygon segmentation
needs at least 3 points (6 numbers) per part, an RLE's ``size`` must be the video's ``[height, width]``.
A polygon must not cross, touch or fold back onto itself (pycocotools would fill such a polygon by the even-odd
rule, leaving holes where the annotator meant none).

Only the standard library is imported so that the module can be loaded by file path.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import os.path as osp
import posixpath
import tempfile
from collections import defaultdict
from typing import Any, Dict, List, Optional, Tuple

SPLITS = ('train', 'valid', 'test')
# version -> (official file relative to the annotation folder, output file name); both formatted with split
LAYOUTS = {
    '2019': ('{split}.json', 'youtube_vis_2019_{split}.json'),
    '2021': (osp.join('{split}', 'instances.json'), 'youtube_vis_2021_{split}.json'),
    'ovis': ('annotations_{split}.json', 'ovis_{split}.json'),
}


class YTVISFormatError(ValueError):
    """An official YouTube-VIS/OVIS json file is malformed; the message names the file and the problem."""


def _require(obj: Any, keys: Tuple[str, ...], what: str, source: str) -> None:
    if not isinstance(obj, dict):
        raise YTVISFormatError(f'{source}: {what} is not an object')
    missing = [k for k in keys if k not in obj]
    if missing:
        raise YTVISFormatError(f'{source}: {what} lacks key(s) {", ".join(missing)}')


def _check_unique(items: List[dict], what: str, source: str) -> None:
    seen = set()
    for item in items:
        if item['id'] in seen:
            raise YTVISFormatError(f'{source}: duplicate {what} id {item["id"]!r}')
        seen.add(item['id'])


BOX_TOLERANCE = 1.0  # px a box may reach past the image border (rounding in mask -> box conversions)


def _positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_box(bbox: List[Any], width: Any, height: Any, where: str) -> None:
    """``[x, y, w, h]`` with w, h > 0 inside the ``width`` x ``height`` image (``BOX_TOLERANCE`` px slack)."""
    if not all(_is_number(v) for v in bbox):
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


def _check_segmentation(seg: Any, width: Any, height: Any, where: str) -> None:
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
            if not isinstance(part, list) or not all(_is_number(v) for v in part):
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


def convert_ytvis(data: Any, source: str = '<dict>') -> Dict[str, Any]:
    """Convert a loaded official json (dict) to a CocoVID dict; ``source`` names the input in errors.

    Splits without ``annotations`` (or with ``annotations: null``, as in test files) give videos and
    images only. Segmentations (RLE or polygons) are passed through unchanged. Each official annotation
    gets one global ``instance_id`` (1-based, in video order then file order).

    Raises:
        YTVISFormatError: missing keys, per-frame lists whose length differs from the video length,
            unknown or duplicate video/category ids, a frame with a box but no mask/area, a box with a
            non-positive width/height or outside the image (more than 1 px), a polygon with fewer than 3
            points, an RLE whose ``size`` is not the video's ``[height, width]``. The message names
            ``source``, the annotation id, its video id and the frame.
    """
    _require(data, ('videos', 'categories'), 'the top level', source)
    videos, categories = data['videos'], data['categories']
    anns = data.get('annotations')
    for key, value in (('videos', videos), ('categories', categories), ('annotations', anns)):
        if value is not None and not isinstance(value, list):
            raise YTVISFormatError(f'{source}: "{key}" is not a list')
    for cat in categories:
        _require(cat, ('id', 'name'), 'a category', source)
    _check_unique(categories, 'category', source)
    cat_ids = {c['id'] for c in categories}

    lengths = {}
    for i, video in enumerate(videos):
        _require(video, ('id', 'width', 'height', 'file_names'), f'video #{i}', source)
        for key in ('width', 'height'):
            if not _positive_int(video[key]):
                raise YTVISFormatError(f'{source}: video {video["id"]!r} has {key} {video[key]!r}, not a positive '
                                       'integer')
        names = video['file_names']
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise YTVISFormatError(f'{source}: video {video["id"]!r} has no list of file names')
        if 'length' in video and video['length'] != len(names):
            raise YTVISFormatError(f'{source}: video {video["id"]!r} has length {video["length"]} but '
                                   f'{len(names)} file names')
        lengths[video['id']] = len(names)
    _check_unique(videos, 'video', source)

    by_video = defaultdict(list)
    for i, ann in enumerate(anns or []):
        _require(ann, ('id', 'video_id', 'category_id', 'segmentations', 'bboxes', 'areas'), f'annotation #{i}',
                 source)
        if ann['video_id'] not in lengths:
            raise YTVISFormatError(f'{source}: annotation {ann["id"]!r} refers to unknown video {ann["video_id"]!r}')
        if ann['category_id'] not in cat_ids:
            raise YTVISFormatError(f'{source}: annotation {ann["id"]!r} refers to unknown category '
                                   f'{ann["category_id"]!r}')
        for key in ('segmentations', 'bboxes', 'areas'):
            if not isinstance(ann[key], list) or len(ann[key]) != lengths[ann['video_id']]:
                n = len(ann[key]) if isinstance(ann[key], list) else type(ann[key]).__name__
                raise YTVISFormatError(f'{source}: annotation {ann["id"]!r} has {n} {key} for a video of '
                                       f'{lengths[ann["video_id"]]} frames')
        by_video[ann['video_id']].append(ann)
    if anns:
        _check_unique(anns, 'annotation', source)

    out: Dict[str, Any] = dict(videos=[], images=[], annotations=[], categories=[dict(c) for c in categories])
    instance_ids = {}
    for video in videos:
        for ann in by_video[video['id']]:
            instance_ids[id(ann)] = len(instance_ids) + 1
    for video in videos:
        first = video['file_names'][0]
        out['videos'].append(dict(id=video['id'], name=posixpath.dirname(first) or posixpath.splitext(first)[0],
                                  width=video['width'], height=video['height']))
        for frame_id, file_name in enumerate(video['file_names']):
            image_id = len(out['images']) + 1
            out['images'].append(dict(id=image_id, file_name=file_name, height=video['height'],
                                      width=video['width'], frame_id=frame_id, video_id=video['id']))
            for ann in by_video[video['id']]:
                bbox = ann['bboxes'][frame_id]
                if bbox is None:
                    continue
                seg, area = ann['segmentations'][frame_id], ann['areas'][frame_id]
                where = f'{source}: annotation {ann["id"]!r} (video {video["id"]!r}) frame {frame_id}'
                if seg is None or area is None or not (isinstance(bbox, list) and len(bbox) == 4):
                    raise YTVISFormatError(f'{where} has a box {bbox!r} but segmentation or area missing or the '
                                           'box malformed')
                _check_box(bbox, video['width'], video['height'], where)
                _check_segmentation(seg, video['width'], video['height'], where)
                out['annotations'].append(dict(
                    id=len(out['annotations']) + 1, video_id=video['id'], image_id=image_id,
                    category_id=ann['category_id'], instance_id=instance_ids[id(ann)], bbox=bbox,
                    segmentation=seg, area=area, iscrowd=ann.get('iscrowd', 0)))
    return out


def load_json(path: str) -> Any:
    """Read a json file, raising :class:`YTVISFormatError` (naming the file) if it is not valid json."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise YTVISFormatError(f'{path}: not valid JSON ({e})') from e


def _dump_json_tmp(obj: Any, path: str) -> str:
    """Write json to a new temporary file next to ``path``; returns its name (removed again on failure)."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(obj, f, separators=(',', ':'))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the permissions of a plainly created file, not mkstemp's 0600
    except BaseException:
        _remove_quietly(tmp)
        raise
    return tmp


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def dump_json_atomic(obj: Any, path: str) -> None:
    """Write json to a temporary file next to ``path`` and rename it into place."""
    tmp = _dump_json_tmp(obj, path)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


def _refuse_existing(paths: List[str]) -> None:
    existing = [p for p in paths if osp.exists(p)]
    if existing:
        raise FileExistsError(f'{", ".join(existing)} exist{"s" if len(existing) == 1 else ""}; not overwriting '
                              '(use --overwrite to replace)')


def _counts(result: Dict[str, Any]) -> Dict[str, int]:
    return dict(videos=len(result['videos']), images=len(result['images']), annotations=len(result['annotations']),
                instances=len({a['instance_id'] for a in result['annotations']}))


def convert_file(in_json: str, out_json: str, overwrite: bool = False) -> Dict[str, int]:
    """Convert one official json file; returns counts of videos, images, annotations and instances.

    ``out_json`` is written to a temporary name and renamed into place, so it is never left half-written.

    Raises:
        YTVISFormatError: see :func:`convert_ytvis` (nothing is written).
        FileExistsError: ``out_json`` exists and ``overwrite`` is False.
    """
    if not overwrite:
        _refuse_existing([out_json])
    result = convert_ytvis(load_json(in_json), in_json)
    dump_json_atomic(result, out_json)
    return _counts(result)


def convert_dir(ann_dir: str, out_dir: str, version: str,
                overwrite: bool = False) -> List[Tuple[str, str, Dict[str, int]]]:
    """Convert every official split file of ``version`` ('2019', '2021' or 'ovis') found in ``ann_dir``.

    All or nothing: every file is converted and written to a temporary name first; the outputs are renamed
    into place only when all conversions succeeded. Returns (input, output, counts) per converted file.

    Raises:
        ValueError: unknown version.
        FileNotFoundError: no official file of that version in ``ann_dir``.
        FileExistsError: an output exists and ``overwrite`` is False (checked before converting anything).
        YTVISFormatError: see :func:`convert_ytvis`; no output is written.
    """
    if version not in LAYOUTS:
        raise ValueError(f'unknown version {version!r}; choose from {", ".join(LAYOUTS)}')
    src_pattern, dst_pattern = LAYOUTS[version]
    todo = [(osp.join(ann_dir, src_pattern.format(split=s)), osp.join(out_dir, dst_pattern.format(split=s)))
            for s in SPLITS]
    todo = [(src, dst) for src, dst in todo if osp.isfile(src)]
    if not todo:
        raise FileNotFoundError(f'{ann_dir}: no {version} files ({src_pattern.format(split="{train,valid,test}")})')
    if not overwrite:
        _refuse_existing([dst for _, dst in todo])
    done: List[Tuple[str, str, Dict[str, int], str]] = []
    try:
        for src, dst in todo:
            result = convert_ytvis(load_json(src), src)
            done.append((src, dst, _counts(result), _dump_json_tmp(result, dst)))
            del result
        for _src, dst, _n, tmp in done:
            os.replace(tmp, dst)
    finally:
        for *_, tmp in done:
            if osp.exists(tmp):
                _remove_quietly(tmp)
    return [(src, dst, counts) for src, dst, counts, _ in done]
