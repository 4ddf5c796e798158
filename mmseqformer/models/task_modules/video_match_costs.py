"""Match costs between video-level box tracks (paper Eq. 5-6)."""
from typing import Optional, Union

import torch
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from mmengine.structures import InstanceData
from torch import Tensor


def _frame_weights(gt_instances: InstanceData, mask_absent: bool, like: Tensor) -> Optional[Tensor]:
    """(n, T) float weights of the gt frames that enter the cost, or None for all frames."""
    if not mask_absent:
        return None
    return gt_instances.valid.to(like.dtype)


@TASK_UTILS.register_module()
class VideoBBoxDistanceCost(BaseMatchCost):
    """Distance between predicted and gt box tracks, both (T, 4) normalized cxcywh.

    The official SeqFormer cost is the Euclidean distance (``p=2``) over the concatenated T*4
    vector, not averaged over frames and with absent frames (gt box 1e-6) included. ``p=1`` gives
    the Deformable-DETR L1 form; ``mask_absent=True`` leaves absent gt frames out.

    Expects ``pred_instances.bboxes`` (Q, T, 4), ``gt_instances.bboxes`` (n, T, 4) and, with
    ``mask_absent``, ``gt_instances.valid`` (n, T). Returns (Q, n).
    """

    def __init__(self, weight: Union[float, int] = 1., p: int = 2, mask_absent: bool = False) -> None:
        super().__init__(weight=weight)
        self.p = p
        self.mask_absent = mask_absent

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData,
                 img_meta: Optional[dict] = None, **kwargs) -> Tensor:
        pred, gt = pred_instances.bboxes, gt_instances.bboxes
        valid = _frame_weights(gt_instances, self.mask_absent, pred)
        if valid is None:
            cost = torch.cdist(pred.flatten(1), gt.flatten(1), p=self.p)
        else:
            diff = (pred[:, None] - gt[None]).abs() * valid[None, :, :, None]
            cost = diff.pow(self.p).flatten(2).sum(-1).pow(1. / self.p)
        return cost * self.weight


@TASK_UTILS.register_module()
class VideoGIoUCost(BaseMatchCost):
    """Minus the frame-averaged GIoU of two box tracks.

    Expects ``bboxes`` as in :class:`VideoBBoxDistanceCost` (normalized cxcywh). With
    ``mask_absent`` the average runs over the gt's present frames only. Returns (Q, n).
    """

    def __init__(self, weight: Union[float, int] = 1., mask_absent: bool = False) -> None:
        super().__init__(weight=weight)
        self.mask_absent = mask_absent

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData,
                 img_meta: Optional[dict] = None, **kwargs) -> Tensor:
        pred = bbox_cxcywh_to_xyxy(pred_instances.bboxes).transpose(0, 1)  # (T, Q, 4)
        gt = bbox_cxcywh_to_xyxy(gt_instances.bboxes).transpose(0, 1)  # (T, n, 4)
        giou = bbox_overlaps(pred, gt, mode='giou')  # (T, Q, n)
        valid = _frame_weights(gt_instances, self.mask_absent, giou)
        if valid is None:
            mean_giou = giou.mean(0)
        else:
            w = valid.transpose(0, 1)[:, None]  # (T, 1, n)
            mean_giou = (giou * w).sum(0) / w.sum(0).clamp(min=1)
        return -mean_giou * self.weight
