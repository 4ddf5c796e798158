"""Validation of CocoVID annotation files (the layout mmdet's video datasets read) before training or testing.

mmdet's ``BaseVideoDataset`` silently skips what it cannot use (boxes outside the image or under 1 px, unknown
categories) and fails late, with a bare ``KeyError``, on what it needs. A hand-made or foreign CocoVID json
is therefore checked as a whole when ``tools/train.py`` / ``tools/test.py`` start, with the same rules
``youtubevis2coco`` applies to the official files: every reference resolves, a video's frames are numbered
0..n-1 once each, boxes have a positive size and lie inside the image (1 px slack), polygons have at least 3
points and do not cross themselves, an RLE has the image's size. The first problem raises
:class:`YTVISFormatError` naming the file and the annotation, image or video.

The checks shared with the converters are in :mod:`mmseqformer.datasets.annotation_checks`.
"""
from __future__ import annotations

import numbers
import os.path as osp
from collections import defaultdict
from typing import Any, Dict, Iterator, List, Optional

from .annotation_checks import (YTVISFormatError, check_box, check_segmentation, check_unique_ids, is_positive_int,
                                load_json, require_keys)


def check_cocovid(data: Any, source: str = '<dict>') -> None:
    """Raise :class:`YTVISFormatError` (message starting with ``source``) for the first problem in a CocoVID dict.

    Required: ``videos`` [{id}], ``images`` [{id, video_id, frame_id, width, height, file_name}],
    ``categories`` [{id, name}]; ``annotations`` (absent or null for splits without labels)
    [{id, image_id, category_id, instance_id, bbox [x, y, w, h], segmentation}], an annotation's optional
    ``video_id`` agreeing with its image's.
    """
    require_keys(data, ('videos', 'images', 'categories'), 'the top level', source)
    for key in ('videos', 'images', 'categories', 'annotations'):
        if data.get(key) is not None and not isinstance(data[key], list):
            raise YTVISFormatError(f'{source}: "{key}" is not a list')
    for i, video in enumerate(data['videos']):
        require_keys(video, ('id',), f'video #{i}', source)
    check_unique_ids(data['videos'], 'video', source)
    for i, cat in enumerate(data['categories']):
        require_keys(cat, ('id', 'name'), f'category #{i}', source)
    check_unique_ids(data['categories'], 'category', source)
    video_ids = {v['id'] for v in data['videos']}
    cat_ids = {c['id'] for c in data['categories']}

    images: Dict[Any, dict] = {}
    frames = defaultdict(list)
    for i, img in enumerate(data['images']):
        require_keys(img, ('id', 'video_id', 'frame_id', 'width', 'height', 'file_name'), f'image #{i}', source)
        where = f'{source}: image {img["id"]!r}'
        if img['video_id'] not in video_ids:
            raise YTVISFormatError(f'{where} refers to unknown video {img["video_id"]!r}')
        for key in ('width', 'height'):
            if not is_positive_int(img[key]):
                raise YTVISFormatError(f'{where} has {key} {img[key]!r}, not a positive integer')
        if not isinstance(img['frame_id'], numbers.Integral) or isinstance(img['frame_id'], bool):
            raise YTVISFormatError(f'{where} has frame_id {img["frame_id"]!r}, not an integer')
        images[img['id']] = img
        frames[img['video_id']].append(img['frame_id'])
    check_unique_ids(data['images'], 'image', source)
    for video_id, ids in frames.items():
        if sorted(ids) != list(range(len(ids))):
            raise YTVISFormatError(f'{source}: video {video_id!r} has frame ids {_summary(sorted(ids))}, not 0..'
                                   f'{len(ids) - 1} once each (its images disagree with its length)')

    anns = data.get('annotations') or []
    for i, ann in enumerate(anns):
        require_keys(ann, ('id', 'image_id', 'category_id', 'instance_id', 'bbox', 'segmentation'), f'annotation #{i}',
                 source)
        img = images.get(ann['image_id'])
        if img is None:
            raise YTVISFormatError(f'{source}: annotation {ann["id"]!r} refers to unknown image {ann["image_id"]!r}')
        where = f'{source}: annotation {ann["id"]!r} (video {img["video_id"]!r}) frame {img["frame_id"]}'
        if ann.get('video_id', img['video_id']) != img['video_id']:
            raise YTVISFormatError(f'{where}: its video_id {ann["video_id"]!r} is not its image\'s')
        if ann['category_id'] not in cat_ids:
            raise YTVISFormatError(f'{where} refers to unknown category {ann["category_id"]!r}')
        if not isinstance(ann['bbox'], list) or len(ann['bbox']) != 4:
            raise YTVISFormatError(f'{where}: box {ann["bbox"]!r} is not [x, y, w, h]')
        check_box(ann['bbox'], img['width'], img['height'], where)
        check_segmentation(ann['segmentation'], img['width'], img['height'], where)
    check_unique_ids(anns, 'annotation', source)


def _summary(ids: List[Any], shown: int = 8) -> str:
    return '[' + ', '.join(map(str, ids[:shown])) + (', ...]' if len(ids) > shown else ']')


def dataset_annotation_files(dataset_cfg: Any) -> Iterator[str]:
    """Paths of the ``ann_file`` entries of a dataset config, following ``dataset``/``datasets`` wrappers.

    A relative ``ann_file`` is joined with the dataset's ``data_root``, as mmengine's ``BaseDataset`` does.
    """
    if isinstance(dataset_cfg, (list, tuple)):
        for item in dataset_cfg:
            yield from dataset_annotation_files(item)
        return
    if not hasattr(dataset_cfg, 'get'):
        return
    ann_file: Optional[str] = dataset_cfg.get('ann_file')
    if isinstance(ann_file, str) and ann_file:
        root = dataset_cfg.get('data_root')
        yield osp.join(root, ann_file) if isinstance(root, str) and root and not osp.isabs(ann_file) else ann_file
    for key in ('dataset', 'datasets'):
        if dataset_cfg.get(key) is not None:
            yield from dataset_annotation_files(dataset_cfg[key])


def check_config_annotations(cfg: Any, loaders=('train_dataloader', 'val_dataloader', 'test_dataloader')) -> List[str]:
    """Check every CocoVID ``ann_file`` the config's data loaders name; returns the files checked.

    Files that are missing are left to the dataset (its error names them); json with ``videos`` is checked
    with :func:`check_cocovid`; other json (e.g. the plain COCO file of joint training) is skipped.

    Raises:
        YTVISFormatError: a file that is not json or a CocoVID file with a problem.
    """
    checked, seen = [], set()
    for name in loaders:
        loader = cfg.get(name) if hasattr(cfg, 'get') else None
        if not loader or not hasattr(loader, 'get'):
            continue
        for path in dataset_annotation_files(loader.get('dataset')):
            if path in seen or not path.endswith('.json') or not osp.isfile(path):
                continue
            seen.add(path)
            data = load_json(path)
            if isinstance(data, dict) and 'videos' in data:
                check_cocovid(data, path)
                checked.append(path)
    return checked
