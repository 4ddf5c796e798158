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

The checks are those of :mod:`mmseqformer.datasets.annotation_checks`, shared with the CocoVID validation.
"""
from __future__ import annotations

import os
import os.path as osp
import posixpath
from collections import defaultdict
from typing import Any, Dict, List, Tuple

from ..datasets.annotation_checks import (YTVISFormatError, check_box, check_segmentation, check_unique_ids,
                                          is_positive_int, load_json, require_keys)
from ..utils.atomic_write import dump_json_atomic, dump_json_to_temp, remove_quietly

SPLITS = ('train', 'valid', 'test')
# version -> (official file relative to the annotation folder, output file name); both formatted with split
LAYOUTS = {
    '2019': ('{split}.json', 'youtube_vis_2019_{split}.json'),
    '2021': (osp.join('{split}', 'instances.json'), 'youtube_vis_2021_{split}.json'),
    'ovis': ('annotations_{split}.json', 'ovis_{split}.json'),
}


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
    require_keys(data, ('videos', 'categories'), 'the top level', source)
    videos, categories = data['videos'], data['categories']
    anns = data.get('annotations')
    for key, value in (('videos', videos), ('categories', categories), ('annotations', anns)):
        if value is not None and not isinstance(value, list):
            raise YTVISFormatError(f'{source}: "{key}" is not a list')
    for cat in categories:
        require_keys(cat, ('id', 'name'), 'a category', source)
    check_unique_ids(categories, 'category', source)
    lengths = _video_lengths(videos, source)
    by_video = _annotations_by_video(anns or [], lengths, {c['id'] for c in categories}, source)

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
                check_box(bbox, video['width'], video['height'], where)
                check_segmentation(seg, video['width'], video['height'], where)
                out['annotations'].append(dict(
                    id=len(out['annotations']) + 1, video_id=video['id'], image_id=image_id,
                    category_id=ann['category_id'], instance_id=instance_ids[id(ann)], bbox=bbox,
                    segmentation=seg, area=area, iscrowd=ann.get('iscrowd', 0)))
    return out


def _video_lengths(videos: List[Any], source: str) -> Dict[Any, int]:
    """Number of frames per video id, checking each video's keys, size, file names and ``length``."""
    lengths = {}
    for i, video in enumerate(videos):
        require_keys(video, ('id', 'width', 'height', 'file_names'), f'video #{i}', source)
        for key in ('width', 'height'):
            if not is_positive_int(video[key]):
                raise YTVISFormatError(f'{source}: video {video["id"]!r} has {key} {video[key]!r}, not a positive '
                                       'integer')
        names = video['file_names']
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise YTVISFormatError(f'{source}: video {video["id"]!r} has no list of file names')
        if 'length' in video and video['length'] != len(names):
            raise YTVISFormatError(f'{source}: video {video["id"]!r} has length {video["length"]} but '
                                   f'{len(names)} file names')
        lengths[video['id']] = len(names)
    check_unique_ids(videos, 'video', source)
    return lengths


def _annotations_by_video(anns: List[Any], lengths: Dict[Any, int], cat_ids: set,
                          source: str) -> Dict[Any, List[dict]]:
    """The annotations of each video id (file order), checking their keys, ids and per-frame list lengths."""
    by_video = defaultdict(list)
    for i, ann in enumerate(anns):
        require_keys(ann, ('id', 'video_id', 'category_id', 'segmentations', 'bboxes', 'areas'), f'annotation #{i}',
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
        check_unique_ids(anns, 'annotation', source)
    return by_video


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
            done.append((src, dst, _counts(result), dump_json_to_temp(result, dst)))
            del result
        for _src, dst, _n, tmp in done:
            os.replace(tmp, dst)
    finally:
        for *_, tmp in done:
            if osp.exists(tmp):
                remove_quietly(tmp)
    return [(src, dst, counts) for src, dst, counts, _ in done]
