"""COCO images as one-frame videos whose categories are mapped onto a video dataset's classes.

SeqFormer's joint training adds COCO images of the categories shared with YouTube-VIS, each turned into a
pseudo clip by :class:`~mmseqformer.datasets.transforms.ImageToClip` in the pipeline.
"""
from __future__ import annotations

import os.path as osp
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from mmdet.datasets import BaseVideoDataset, YouTubeVISDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.registry import DATASETS
from mmengine import fileio

CatMap = Union[Mapping[Any, int], Sequence[Tuple[int, int]]]


def youtube_vis_classes(dataset_version: str) -> Tuple[str, ...]:
    """The class names mmdet's ``YouTubeVISDataset`` uses for ``dataset_version`` ('2019' or '2021')."""
    # set_dataset_classes writes METAINFO on the class it is called on: use a throwaway subclass so the
    # shared YouTubeVISDataset.METAINFO stays untouched
    probe = type('_YTVISClassesProbe', (YouTubeVISDataset,), {})
    probe.set_dataset_classes(dataset_version)
    return tuple(probe.METAINFO['classes'])


def parse_cat_map(cat_map: CatMap, num_classes: int) -> Dict[int, int]:
    """``{coco_category_id: target_category_id}`` with int keys; target ids are 1-based class positions.

    Accepts a mapping (keys may be strings, e.g. after a json round trip) or a sequence of pairs.

    Raises:
        ValueError: empty map, or a target id outside ``1..num_classes``.
    """
    pairs = cat_map.items() if isinstance(cat_map, Mapping) else cat_map
    parsed = {int(k): int(v) for k, v in pairs}
    if not parsed:
        raise ValueError('cat_map is empty')
    bad = sorted(v for v in parsed.values() if not 1 <= v <= num_classes)
    if bad:
        raise ValueError(f'cat_map target ids {bad} are outside 1..{num_classes} (the target classes)')
    return parsed


@DATASETS.register_module()
class CocoPseudoVideoDataset(BaseVideoDataset):
    """A plain COCO instances json restricted to categories of a target video dataset.

    Annotations whose category is not in ``cat_map``, crowd annotations, annotations without a segmentation
    and boxes that are degenerate or outside the image are dropped (the box checks are mmdet's). Images
    keeping between ``min_instances`` and ``max_instances`` instances (official: 1..25) become one-frame
    videos ``dict(video_id=<image id>, video_length=1, images=[frame])``; a frame's ``instances`` hold
    ``bbox`` (x1, y1, x2, y2), ``bbox_label`` (``target id - 1``: the label of the target dataset),
    ``ignore_flag`` 0, ``mask`` (the COCO segmentation) and ``instance_id`` (1..N within the image).

    The classes are the target dataset's, so the set concatenates with it (mmengine's ``ConcatDataset``
    requires equal metainfo): give ``dataset_version`` ('2019'/'2021', YouTube-VIS classes as mmdet's
    ``YouTubeVISDataset``) or ``metainfo=dict(classes=...)``.

    Args:
        cat_map: ``{coco_category_id: target_category_id}``, target ids 1-based in the target classes (e.g.
            the YouTube-VIS 2019 map in ``configs/_base_/datasets/coco2ytvis2019.py``).
        dataset_version: YouTube-VIS version whose classes are the target classes.
        min_instances, max_instances: range of kept instances per image.
        **kwargs: ``BaseVideoDataset`` arguments (``ann_file``, ``data_root``, ``data_prefix=dict(img_path=)``,
            ``pipeline``, ``filter_cfg=dict(min_size=...)``, ...).
    """

    def __init__(self, *args: Any, cat_map: CatMap, dataset_version: Optional[str] = None,
                 min_instances: int = 1, max_instances: int = 25, **kwargs: Any) -> None:
        metainfo = dict(kwargs.pop('metainfo', None) or {})
        if dataset_version is not None:
            metainfo.setdefault('classes', youtube_vis_classes(dataset_version))
        if not metainfo.get('classes'):
            raise ValueError('CocoPseudoVideoDataset needs the target classes: dataset_version or metainfo')
        self.cat_map = parse_cat_map(cat_map, len(metainfo['classes']))
        self.min_instances, self.max_instances = min_instances, max_instances
        super().__init__(*args, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        with fileio.get_local_path(self.ann_file, backend_args=self.backend_args) as local_path:
            coco = COCO(local_path)
        data_list = []
        for img_id in sorted(coco.get_img_ids()):
            img_info = coco.load_imgs([img_id])[0]
            instances = self._parse_instances(img_info, coco.load_anns(coco.get_ann_ids(img_ids=[img_id])))
            if not self.min_instances <= len(instances) <= self.max_instances:
                continue
            frame = dict(img_info, img_id=img_id, frame_id=0, video_id=img_id, instances=instances,
                         img_path=osp.join(self.data_prefix.get('img_path') or '', img_info['file_name']))
            data_list.append(dict(video_id=img_id, video_length=1, images=[frame]))
        return data_list

    def _parse_instances(self, img_info: dict, anns: List[dict]) -> List[dict]:
        instances = []
        for ann in anns:
            if ann.get('iscrowd', 0) or ann['category_id'] not in self.cat_map or not ann.get('segmentation'):
                continue
            x1, y1, w, h = ann['bbox']
            inter_w = max(0, min(x1 + w, img_info['width']) - max(x1, 0))
            inter_h = max(0, min(y1 + h, img_info['height']) - max(y1, 0))
            if inter_w * inter_h == 0 or ann.get('area', 1) <= 0 or w < 1 or h < 1:
                continue
            instances.append(dict(bbox=[x1, y1, x1 + w, y1 + h], bbox_label=self.cat_map[ann['category_id']] - 1,
                                  ignore_flag=0, mask=ann['segmentation'], instance_id=len(instances) + 1))
        return instances

    def filter_data(self) -> List[dict]:
        """Drop images smaller than ``filter_cfg['min_size']`` (if given); the instance filter ran at load."""
        min_size = (self.filter_cfg or {}).get('min_size', 0)
        return [v for v in self.data_list
                if min(v['images'][0]['width'], v['images'][0]['height']) >= min_size]
