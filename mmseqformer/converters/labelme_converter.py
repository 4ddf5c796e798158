"""Convert folders of labelme-annotated video frames to an official YouTube-VIS json.

Every folder (INPUT_DIR itself or any sub-folder, hidden ones excepted) holding labelme ``*.json`` files is
one video; its frames are the json files in natural order (``f2`` before ``f10``). A shape's instance
(track) is identified by its base label plus
* its ``group_id``, else
* a numeric label suffix: ``car-1`` / ``car_1`` are track 1 of ``car`` (a label listed verbatim in
  ``categories`` is never split), else
* its rank among the unnumbered shapes of that label in the frame: the k-th ``car`` of every frame is one
  track (labelme's ``--keep-prev`` copies shapes in order).
Shapes of one track in one frame are merged. ``polygon``, ``rectangle`` and ``circle`` shapes are
rasterised with pycocotools (``frPyObjects``); other shape types (points, lines, ...) are skipped and
counted. Boxes and areas come from the masks; a frame where a track has no pixels is ``None``.

File names are relative to the image root: the parent of INPUT_DIR when INPUT_DIR holds frames itself,
else INPUT_DIR (so every file name is ``<video folder>/<image>``). A frame's image is its ``imagePath``
(relative to the json); where ``imagePath`` is missing, null or empty, the one image file next to the json
with the same stem (``f2.json`` -> ``f2.jpg``, ``.png``, ...) is used, and none or several such files is an
error naming the json.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import re
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pycocotools import mask as mask_utils

from ..datasets.annotation_checks import polygon_self_intersection
from ..utils.atomic_write import dump_json_atomic

_REQUIRED = ('imageHeight', 'imageWidth', 'shapes')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.webp')
_SUFFIX = re.compile(r'(.+?)[-_](\d+)')


class LabelmeFormatError(ValueError):
    """The input is not a folder of labelme frames; the message names the file and the problem."""


def _natural_key(name: str) -> List[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r'(\d+)', name)]


def find_videos(input_dir: str) -> List[Tuple[str, List[str]]]:
    """``(folder, sorted json names)`` for every folder under ``input_dir`` holding json files."""
    if not osp.isdir(input_dir):
        raise LabelmeFormatError(f'{input_dir}: not a folder')
    videos = []
    for root, dirs, files in os.walk(input_dir):
        dirs[:] = sorted((d for d in dirs if not d.startswith('.')), key=_natural_key)
        jsons = sorted((f for f in files if f.lower().endswith('.json')), key=_natural_key)
        if jsons:
            videos.append((root, jsons))
    if not videos:
        raise LabelmeFormatError(f'{input_dir}: no labelme json files found')
    return videos


def load_frame(path: str) -> Dict[str, Any]:
    """A labelme annotation dict, checked for the keys the conversion needs."""
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LabelmeFormatError(f'{path}: not valid JSON ({e})') from e
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED):
        raise LabelmeFormatError(f'{path}: not a labelme annotation (needs keys {", ".join(_REQUIRED)})')
    if not isinstance(data['shapes'], list):
        raise LabelmeFormatError(f'{path}: "shapes" is not a list')
    for key in ('imageHeight', 'imageWidth'):
        if not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] <= 0:
            raise LabelmeFormatError(f'{path}: {key} is {data[key]!r}, not a positive integer')
    return data


def frame_image(path: str, frame: Dict[str, Any]) -> str:
    """The image file of the labelme json ``path``: its ``imagePath``, else the image with the json's stem.

    Raises:
        LabelmeFormatError: ``imagePath`` is not a string, or it is missing/null/empty and there is not exactly
            one image file named like the json next to it.
    """
    folder = osp.dirname(path)
    image_path = frame.get('imagePath')
    if isinstance(image_path, str) and image_path:
        return osp.normpath(osp.join(folder, image_path))
    if image_path not in (None, ''):
        raise LabelmeFormatError(f'{path}: imagePath is {image_path!r}, not a file name')
    stem = osp.splitext(osp.basename(path))[0]
    found = sorted(f for f in os.listdir(folder)
                   if osp.splitext(f)[0] == stem and osp.splitext(f)[1].lower() in IMAGE_EXTENSIONS)
    if len(found) != 1:
        what = 'none' if not found else f'{len(found)} ({", ".join(found)})'
        raise LabelmeFormatError(f'{path}: imagePath is {"missing" if "imagePath" not in frame else repr(image_path)} '
                                 f'and not exactly one image named {stem}.* lies next to it: found {what}')
    return osp.join(folder, found[0])


def shape_polygon(shape: Dict[str, Any]) -> Optional[List[float]]:
    """Flat ``[x1, y1, x2, y2, ...]`` polygon of a region shape, or None for non-region shape types."""
    kind = shape.get('shape_type') or 'polygon'
    points = shape.get('points') or []
    if kind == 'polygon' and len(points) >= 3:
        return [float(c) for p in points for c in p[:2]]
    if kind == 'rectangle' and len(points) == 2:
        (x1, y1), (x2, y2) = points[0][:2], points[1][:2]
        return [float(c) for c in (x1, y1, x2, y1, x2, y2, x1, y2)]
    if kind == 'circle' and len(points) == 2:
        (cx, cy), (px, py) = points[0][:2], points[1][:2]
        r = math.hypot(px - cx, py - cy)
        angles = [2 * math.pi * i / 32 for i in range(32)]
        return [c for a in angles for c in (cx + r * math.cos(a), cy + r * math.sin(a))]
    return None


def track_key(label: str, group_id: Any, categories: Optional[Sequence[str]]) -> Tuple[str, Optional[int]]:
    """``(base label, track number or None)`` of a shape (see the module docstring)."""
    base, number = label, None
    if not (categories and label in categories):
        match = _SUFFIX.fullmatch(label)
        if match and (not categories or match.group(1) in categories):
            base, number = match.group(1), int(match.group(2))
    if group_id is not None:
        number = int(group_id)
    return base, number


def _convert_video(folder: str, names: List[str], image_root: str, categories: Optional[Sequence[str]],
                   skipped: Counter) -> Dict[str, Any]:
    size = None
    file_names: List[str] = []
    tracks: Dict[Tuple, Dict[int, List[dict]]] = {}  # key -> frame -> RLEs, in order of first appearance
    for t, name in enumerate(names):
        path = osp.join(folder, name)
        frame = load_frame(path)
        h, w = int(frame['imageHeight']), int(frame['imageWidth'])
        if size is None:
            size = (h, w)
        elif size != (h, w):
            raise LabelmeFormatError(f'{path}: frame size {w}x{h} differs from the video\'s {size[1]}x{size[0]}')
        image = frame_image(path, frame)
        if not osp.isfile(image):
            raise LabelmeFormatError(f'{path}: image {osp.relpath(image, folder)} not found')
        rel = osp.relpath(image, image_root).replace(os.sep, '/')
        if rel.startswith('../'):
            raise LabelmeFormatError(f'{path}: image {osp.relpath(image, folder)} lies outside {image_root}')
        file_names.append(rel)
        auto_rank: Counter = Counter()
        for shape in frame['shapes']:
            if not isinstance(shape, dict) or not isinstance(shape.get('label'), str):
                raise LabelmeFormatError(f'{path}: a shape without a label')
            base, number = track_key(shape['label'].strip(), shape.get('group_id'), categories)
            if categories is not None and base not in categories:
                skipped[f'label {base}'] += 1
                continue
            polygon = shape_polygon(shape)
            if polygon is None:
                skipped[f'shape_type {shape.get("shape_type")}'] += 1
                continue
            crossing = polygon_self_intersection(polygon)
            if crossing is not None:  # rasterised by the even-odd rule it would get holes the annotator did not draw
                raise LabelmeFormatError(f'{path}: shape {shape["label"]!r}: self-intersecting polygon (the edges '
                                         f'from its points {crossing[0] + 1} and {crossing[1] + 1} meet)')
            if number is None:
                key = (base, 'auto', auto_rank[base])
                auto_rank[base] += 1
            else:
                key = (base, 'id', number)
            tracks.setdefault(key, {}).setdefault(t, []).extend(mask_utils.frPyObjects([polygon], h, w))
    assert size is not None
    return dict(folder=folder, size=size, file_names=file_names, tracks=tracks)


def convert_labelme(input_dir: str, categories: Optional[Sequence[str]] = None) -> Tuple[dict, Dict[str, Any]]:
    """Convert ``input_dir`` (see the module docstring) to an official YouTube-VIS dict.

    Args:
        input_dir: folder of labelme frames, or of video folders.
        categories: class names in category-id order (ids 1..K); shapes of other labels are skipped. By
            default every base label found, sorted.

    Returns:
        ``(ytvis, summary)``: the json dict (``videos``, ``annotations``, ``categories``, ...) and counts
        ``dict(videos, frames, instances, categories, skipped, image_root)``.

    Raises:
        LabelmeFormatError: not a folder, no json, a json that is not labelme, a missing image (or, without
            ``imagePath``, no single image with the json's stem), frames of different sizes in one video, bad
            ``categories``.
    """
    if categories is not None:
        categories = [c.strip() for c in categories]
        if not categories or any(not c for c in categories) or len(set(categories)) != len(categories):
            raise LabelmeFormatError(f'categories must be distinct non-empty names, got {categories}')
    found = find_videos(input_dir)
    holds_frames = osp.normpath(found[0][0]) == osp.normpath(input_dir)
    image_root = osp.dirname(osp.abspath(input_dir)) if holds_frames else osp.abspath(input_dir)
    skipped: Counter = Counter()
    videos = [_convert_video(osp.abspath(folder), names, image_root, categories, skipped)
              for folder, names in found]
    if categories is None:
        categories = sorted({key[0] for v in videos for key in v['tracks']})
    cat_ids = {name: i + 1 for i, name in enumerate(categories)}

    out: Dict[str, Any] = dict(info=dict(description=f'converted from labelme frames in {input_dir}'),
                               licenses=[], videos=[], annotations=[],
                               categories=[dict(id=i, name=n, supercategory=n) for n, i in cat_ids.items()])
    for vid, video in enumerate(videos, 1):
        (h, w), length = video['size'], len(video['file_names'])
        out['videos'].append(dict(id=vid, width=w, height=h, length=length, file_names=video['file_names']))
        for key, frames in video['tracks'].items():
            segs: List[Optional[dict]] = [None] * length
            boxes: List[Optional[List[float]]] = [None] * length
            areas: List[Optional[float]] = [None] * length
            for t, rles in frames.items():
                rle = mask_utils.merge(rles) if len(rles) > 1 else rles[0]
                area = float(mask_utils.area(rle))
                if area <= 0:
                    continue
                segs[t] = dict(size=[h, w], counts=rle['counts'].decode('ascii'))
                boxes[t] = [float(x) for x in mask_utils.toBbox(rle)]
                areas[t] = area
            if all(s is None for s in segs):
                skipped['empty track'] += 1
                continue
            out['annotations'].append(dict(
                id=len(out['annotations']) + 1, video_id=vid, category_id=cat_ids[key[0]], iscrowd=0, width=w,
                height=h, length=length, segmentations=segs, bboxes=boxes, areas=areas))
    summary = dict(videos=len(out['videos']), frames=sum(v['length'] for v in out['videos']),
                   instances=len(out['annotations']), categories=list(categories), skipped=dict(skipped),
                   image_root=image_root)
    return out, summary


def convert_labelme_file(input_dir: str, out_json: str, categories: Optional[Sequence[str]] = None,
                         overwrite: bool = False) -> Dict[str, Any]:
    """Convert and write ``out_json`` (a temporary file renamed into place); returns the summary.

    Raises:
        LabelmeFormatError: see :func:`convert_labelme`.
        FileExistsError: ``out_json`` exists and ``overwrite`` is False.
    """
    if osp.exists(out_json) and not overwrite:
        raise FileExistsError(f'{out_json} exists (use --overwrite to replace it)')
    result, summary = convert_labelme(input_dir, categories)
    dump_json_atomic(result, out_json)
    return summary
