"""A random crop that keeps every instance, as DETR-family video code (VisTR) crops."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from mmdet.datasets.transforms import RandomCrop
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomCropKeepInstances(RandomCrop):
    """mmdet's ``RandomCrop`` without dropping the instances that fall outside the crop window.

    mmdet's ``RandomCrop`` removes every box that does not overlap the window (with its label, mask, ignore
    flag and instance id) and can return ``None`` when nothing is left. The official VisTR crop
    (``datasets/transforms.py::crop``) removes nothing: boxes are shifted and clamped to the window, so a box
    outside it becomes a zero-area box on the border, it keeps its label and stays a valid target, and its
    mask is cropped (possibly empty). This transform does that; it never returns ``None``. On the model side
    ``build_video_targets`` keeps such a frame ``valid`` with the box's zero side clamped to 1e-6 (normalised).

    The crop size and offset are mmdet's (``_get_crop_size``/``_rand_offset``, cached randomness), so inside
    ``TransformBroadcaster(share_random_params=True)`` every frame of a clip gets the same window. With
    ``crop_type='absolute_range'`` and ``crop_size=(384, 600)`` each side is drawn uniformly from
    ``[384, min(side, 600)]`` (a side shorter than 384 is kept whole) and the offset uniformly: DETR's
    ``RandomSizeCrop(384, 600)``.

    Required keys: ``img``; optional ``gt_bboxes``, ``gt_masks``, ``gt_seg_map``. Modified keys: ``img``,
    ``img_shape``, ``gt_bboxes``, ``gt_masks``, ``gt_seg_map``. Added key: ``homography_matrix``. Labels,
    ignore flags and instance ids are unchanged.

    Args:
        crop_size: as mmdet's ``RandomCrop`` (for ``'absolute_range'``: ``(min, max)`` pixels of each side).
        crop_type: as mmdet's ``RandomCrop``; default ``'absolute_range'``.
        recompute_bbox: take the boxes from the cropped masks (an empty mask gives the box ``[0, 0, 0, 0]``).
        bbox_clip_border: clamp the boxes to the window (official); without it a box may lie outside the image.
    """

    def __init__(self, crop_size: Tuple, crop_type: str = 'absolute_range', recompute_bbox: bool = False,
                 bbox_clip_border: bool = True) -> None:
        super().__init__(crop_size, crop_type=crop_type, allow_negative_crop=True, recompute_bbox=recompute_bbox,
                         bbox_clip_border=bbox_clip_border)

    def _crop_data(self, results: dict, crop_size: Tuple[int, int],
                   allow_negative_crop: bool = True) -> Optional[dict]:
        """Crop the image, boxes, masks and segmentation map of one frame to a ``crop_size`` (h, w) window."""
        img = results['img']
        margin_h = max(img.shape[0] - crop_size[0], 0)
        margin_w = max(img.shape[1] - crop_size[1], 0)
        offset_h, offset_w = self._rand_offset((margin_h, margin_w))
        crop_y1, crop_y2 = offset_h, offset_h + crop_size[0]
        crop_x1, crop_x2 = offset_w, offset_w + crop_size[1]

        homography = np.array([[1, 0, -offset_w], [0, 1, -offset_h], [0, 0, 1]], dtype=np.float32)
        previous = results.get('homography_matrix')
        results['homography_matrix'] = homography if previous is None else homography @ previous

        img = img[crop_y1:crop_y2, crop_x1:crop_x2, ...]
        results['img'] = img
        results['img_shape'] = img.shape[:2]

        if results.get('gt_bboxes') is not None:
            boxes = results['gt_bboxes']
            boxes.translate_([-offset_w, -offset_h])
            if self.bbox_clip_border:
                boxes.clip_(img.shape[:2])
        if results.get('gt_masks') is not None:
            results['gt_masks'] = results['gt_masks'].crop(np.asarray([crop_x1, crop_y1, crop_x2, crop_y2]))
            if self.recompute_bbox and results.get('gt_bboxes') is not None:
                results['gt_bboxes'] = results['gt_masks'].get_bboxes(type(results['gt_bboxes']))
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = results['gt_seg_map'][crop_y1:crop_y2, crop_x1:crop_x2]
        return results
