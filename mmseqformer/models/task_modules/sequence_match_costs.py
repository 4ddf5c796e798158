"""Match costs between instance sequences with per-frame labels, averaged over frames (VisTR, CVPR 2021).

Predictions are slot sequences: ``pred_instances.scores`` (P, T, C) softmax-classifier logits and
``pred_instances.bboxes`` (P, T, 4) normalized cxcywh. Ground truth is instance sequences with a label per
frame: ``gt_instances.labels`` (n, T) and ``gt_instances.bboxes`` (n, T, 4). Absent frames are not treated
specially: the caller encodes them (VisTR: label 0 and the all-zero box). Every cost returns (P, n).
"""
from typing import Optional, Union

import torch
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.structures import InstanceData
from torch import Tensor


@TASK_UTILS.register_module()
class SequenceSoftmaxClassCost(BaseMatchCost):
    """Minus the frame-averaged softmax probability of each gt frame's label."""

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData,
                 img_meta: Optional[dict] = None, **kwargs) -> Tensor:
        prob = pred_instances.scores.float().softmax(-1)  # (P, T, C)
        labels = gt_instances.labels  # (n, T)
        num_slots, num_frames = prob.shape[:2]
        frames = torch.arange(num_frames, device=prob.device)
        picked = prob[:, frames[None], labels]  # (P, n, T): prob[p, t, labels[g, t]]
        return -picked.mean(-1) * self.weight


@TASK_UTILS.register_module()
class SequenceBBoxL1Cost(BaseMatchCost):
    """L1 distance of box sequences averaged over frames and the 4 coordinates."""

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData,
                 img_meta: Optional[dict] = None, **kwargs) -> Tensor:
        pred, gt = pred_instances.bboxes.float(), gt_instances.bboxes.float()
        return (pred[:, None] - gt[None]).abs().mean((-1, -2)) * self.weight


def smoothed_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tensor:
    """Plain IoU ``(inter + eps) / (union + eps)`` of broadcastable xyxy boxes (..., 4) -> (...).

    The smoothing in the numerator makes two degenerate boxes at the same place count as IoU 1.
    """
    lt = torch.max(boxes1[..., :2], boxes2[..., :2])
    rb = torch.min(boxes1[..., 2:], boxes2[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area1 = (boxes1[..., 2] - boxes1[..., 0]) * (boxes1[..., 3] - boxes1[..., 1])
    area2 = (boxes2[..., 2] - boxes2[..., 0]) * (boxes2[..., 3] - boxes2[..., 1])
    return (inter + eps) / (area1 + area2 - inter + eps)


@TASK_UTILS.register_module()
class SequenceIoUCost(BaseMatchCost):
    """Minus the frame-averaged plain IoU (not GIoU), smoothed by ``eps`` in numerator and denominator."""

    def __init__(self, weight: Union[float, int] = 1., eps: float = 1e-6) -> None:
        super().__init__(weight=weight)
        self.eps = eps

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData,
                 img_meta: Optional[dict] = None, **kwargs) -> Tensor:
        pred = bbox_cxcywh_to_xyxy(pred_instances.bboxes.float())[:, None]  # (P, 1, T, 4)
        gt = bbox_cxcywh_to_xyxy(gt_instances.bboxes.float())[None]  # (1, n, T, 4)
        return -smoothed_iou(pred, gt, self.eps).mean(-1) * self.weight
