"""Subsets of a toy_vis split for evaluation: the videos with occlusion.

A video is *occluded* when some instance's visible (annotated) area is below ``ratio`` (0.5) of its unoccluded
in-frame area in at least one frame; both areas come from the split's files (``areas`` of the YouTube-VIS json,
``amodal_areas`` of the meta json). Frames where an instance is absent never count.
"""
import json
import os.path as osp
from typing import List

from mmseqformer.utils.atomic_write import dump_json_atomic


def _load(root: str, split: str, suffix: str) -> dict:
    path = osp.join(root, 'annotations', f'toy_vis_{split}{suffix}.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such file (generate the set with make_toy_vis.py)')
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path}: not a json file ({e})') from None


def occluded_video_ids(root: str, split: str = 'valid', ratio: float = 0.5) -> List[int]:
    """Ids of the videos of ``split`` in which an instance is less than ``ratio`` visible in some frame."""
    ytvis = _load(root, split, '_ytvis')
    meta = _load(root, split, '_meta')
    visible = {a['id']: a['areas'] for a in ytvis['annotations']}
    occluded = set()
    for video in meta['videos']:
        for inst in video.get('instances') or []:
            areas = visible[inst['annotation_id']]
            for seen, full in zip(areas, inst['amodal_areas']):
                if seen is not None and full and seen < ratio * full:
                    occluded.add(video['id'])
    return sorted(occluded)


def write_video_subset(root: str, split: str, video_ids: List[int], name: str) -> str:
    """Write ``annotations/toy_vis_<split>_<name>.json`` (CocoVID) holding only ``video_ids``; its path.

    The file is written to a temporary name and renamed, so an existing file is replaced whole or not at all.
    """
    cocovid = _load(root, split, '')
    keep = set(video_ids)
    unknown = keep - {v['id'] for v in cocovid['videos']}
    if unknown:
        raise ValueError(f'video ids {sorted(unknown)} are not in the {split} split')
    images = [im for im in cocovid['images'] if im['video_id'] in keep]
    image_ids = {im['id'] for im in images}
    subset = dict(cocovid, videos=[v for v in cocovid['videos'] if v['id'] in keep], images=images,
                  annotations=[a for a in cocovid['annotations'] if a['image_id'] in image_ids])
    path = osp.join(root, 'annotations', f'toy_vis_{split}_{name}.json')
    dump_json_atomic(subset, path)
    return path
