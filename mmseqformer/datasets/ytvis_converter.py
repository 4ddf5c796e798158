"""Convert official YouTube-VIS (2019/2021) and OVIS json files to the CocoVID layout that mmdet 3.x's
``YouTubeVISDataset`` reads.

CocoVID layout::

    videos:      [{id, name, width, height}]
    images:      [{id, file_name, height, width, frame_id, video_id}]        one per frame, ids global 1..N
    annotations: [{id, video_id, image_id, category_id, instance_id, bbox, segmentation, area, iscrowd}]
                 one per (instance, frame) where the official bboxes[frame] is not None
    categories:  copied

Only the standard library is imported so that the module can be loaded by file path.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import posixpath
import tempfile
from collections import defaultdict
from typing import Any, Dict, List, Tuple

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


def convert_ytvis(data: Any, source: str = '<dict>') -> Dict[str, Any]:
    """Convert a loaded official json (dict) to a CocoVID dict; ``source`` names the input in errors.

    Splits without ``annotations`` (or with ``annotations: null``, as in test files) give videos and
    images only. Segmentations (RLE or polygons) are passed through unchanged. Each official annotation
    gets one global ``instance_id`` (1-based, in video order then file order).

    Raises:
        YTVISFormatError: missing keys, per-frame lists whose length differs from the video length,
            unknown or duplicate video/category ids, or a frame with a box but no mask/area.
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
                if seg is None or area is None or not (isinstance(bbox, list) and len(bbox) == 4):
                    raise YTVISFormatError(f'{source}: annotation {ann["id"]!r} frame {frame_id} has a box '
                                           f'{bbox!r} but segmentation or area missing or the box malformed')
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


def dump_json_atomic(obj: Any, path: str) -> None:
    """Write json to a temporary file next to ``path`` and rename it into place."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(obj, f, separators=(',', ':'))
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def convert_file(in_json: str, out_json: str) -> Dict[str, int]:
    """Convert one official json file; returns counts of videos, images, annotations and instances."""
    result = convert_ytvis(load_json(in_json), in_json)
    dump_json_atomic(result, out_json)
    return dict(videos=len(result['videos']), images=len(result['images']),
                annotations=len(result['annotations']),
                instances=len({a['instance_id'] for a in result['annotations']}))


def convert_dir(ann_dir: str, out_dir: str, version: str) -> List[Tuple[str, str, Dict[str, int]]]:
    """Convert every official split file of ``version`` ('2019', '2021' or 'ovis') found in ``ann_dir``.

    Returns (input, output, counts) per converted file.

    Raises:
        ValueError: unknown version.
        FileNotFoundError: no official file of that version in ``ann_dir``.
    """
    if version not in LAYOUTS:
        raise ValueError(f'unknown version {version!r}; choose from {", ".join(LAYOUTS)}')
    src_pattern, dst_pattern = LAYOUTS[version]
    todo = [(osp.join(ann_dir, src_pattern.format(split=s)), osp.join(out_dir, dst_pattern.format(split=s)))
            for s in SPLITS]
    todo = [(src, dst) for src, dst in todo if osp.isfile(src)]
    if not todo:
        raise FileNotFoundError(f'{ann_dir}: no {version} files ({src_pattern.format(split="{train,valid,test}")})')
    return [(src, dst, convert_file(src, dst)) for src, dst in todo]
