"""VisTR's prediction heads: per-query class logits and boxes of the frame-major instance queries; set losses."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.layers import MLP
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import TrackDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig, reduce_mean
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ..utils import build_video_targets

# Official matcher: class 1, box L1 5, plain IoU 2, all averaged over frames; VisTR#80 reproduced.
DEFAULT_ASSIGNER = dict(
    type='SequenceHungarianAssigner', fix_valid_index=False,
    match_costs=[dict(type='SequenceSoftmaxClassCost', weight=1.0), dict(type='SequenceBBoxL1Cost', weight=5.0),
                 dict(type='SequenceIoUCost', weight=2.0)])


@MODELS.register_module()
class VisTRHead(BaseModule):
    """Class and box branches of VisTR (Wang et al., CVPR 2021), shared by all decoder layers, and its losses.

    Logit columns follow the official label convention: column 0 is the "absent frame" label of training
    targets, column ``c`` (1..num_classes) is our label ``c - 1``, column ``num_classes + 1`` is no-object.

    Losses (official coefficients and normalisation): softmax CE over all queries with weight
    ``no_object_weight`` on the no-object column, as a weighted mean; L1 and GIoU on matched (query, present
    frame) pairs, summed / num_boxes; focal (mean over pixels) and dice on the matched queries' mask logits
    upsampled to the padded gt size, summed / num_boxes. ``num_boxes`` counts gt instance-frames, absent ones
    included, averaged over processes, at least 1. Each decoder layer is matched on its own outputs; layers
    before the last get CE/L1/GIoU only, prefixed ``d{i}.``.

    Args:
        num_classes: object classes (40 on YouTube-VIS 2019). embed_dims: query width (384).
        loss_cls: a softmax classification loss; a ``CrossEntropyLoss`` without ``class_weight`` gets
            1 on every column but no-object and ``no_object_weight`` there.
        loss_bbox, loss_iou, loss_mask, loss_dice: mmdet losses (L1 x5, GIoU x2, sigmoid focal x1, naive
            dice with eps 1 x1 officially).
        no_object_weight: the official ``eos_coef`` (0.1).
        train_cfg: ``assigner``: a sequence assigner (default ``SequenceHungarianAssigner``, official costs).
        test_cfg: kept for the model's inference rules.
    """

    def __init__(self, num_classes: int = 40, embed_dims: int = 384,
                 loss_cls: ConfigType = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                 loss_bbox: ConfigType = dict(type='L1Loss', loss_weight=5.0),
                 loss_iou: ConfigType = dict(type='GIoULoss', loss_weight=2.0),
                 loss_mask: ConfigType = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                                              loss_weight=1.0),
                 loss_dice: ConfigType = dict(type='DiceLoss', use_sigmoid=True, activate=True, naive_dice=True,
                                              eps=1.0, loss_weight=1.0),
                 no_object_weight: float = 0.1, train_cfg: OptConfigType = None, test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        self.fc_cls = nn.Linear(embed_dims, num_classes + 2)
        self.fc_reg = MLP(embed_dims, embed_dims, 4, 3)
        loss_cls = dict(loss_cls)
        if loss_cls.get('type') in ('CrossEntropyLoss', 'mmdet.CrossEntropyLoss') and \
                loss_cls.get('class_weight') is None:
            loss_cls['class_weight'] = [1.0] * (num_classes + 1) + [no_object_weight]
        if loss_cls.get('class_weight') is not None and len(loss_cls['class_weight']) != num_classes + 2:
            raise ValueError(f'loss_cls.class_weight needs num_classes + 2 = {num_classes + 2} values, '
                             f'got {len(loss_cls["class_weight"])}')
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_iou = MODELS.build(loss_iou)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.assigner = TASK_UTILS.build((train_cfg or {}).get('assigner', DEFAULT_ASSIGNER))

    def forward(self, hs: Tensor) -> Tuple[Tensor, Tensor]:
        """hs (L, N, Q, C) decoder outputs -> logits (L, N, Q, num_classes + 2), boxes (L, N, Q, 4) cxcywh in [0, 1]."""
        return self.fc_cls(hs), self.fc_reg(hs).sigmoid()

    # -- targets and matching -------------------------------------------------------------------

    @staticmethod
    def sequence_targets(track_sample: TrackDataSample, with_masks: bool = True) -> InstanceData:
        """One video's gt in the official layout: ``labels`` (n, T) logit columns (our label + 1, 0 where
        absent), ``bboxes`` (n, T, 4) normalized cxcywh (all zeros where absent), ``valid`` (n, T) bool and
        ``masks`` (n, T, H, W) at the padded size."""
        gt = build_video_targets(track_sample, with_masks=with_masks)
        out = InstanceData(labels=torch.where(gt.valid, gt.labels[:, None] + 1, torch.zeros_like(gt.valid).long()),
                           bboxes=gt.bboxes * gt.valid[..., None], valid=gt.valid)
        if with_masks:
            out.masks = gt.masks
        return out

    def assign(self, logits: Tensor, boxes: Tensor, targets: List[InstanceData]) -> list:
        """One AssignResult per video (see ``SequenceHungarianAssigner``).

        Args:
            logits: (N, Q, C) frame-major, Q = T * P. boxes: (N, Q, 4). targets: as ``sequence_targets``.
        """
        results = []
        for b, gt in enumerate(targets):
            num_frames = gt.valid.shape[1]
            if logits.shape[1] % num_frames:
                raise ValueError(f'{logits.shape[1]} queries are not a multiple of the {num_frames} frames')
            slots = logits.shape[1] // num_frames
            pred = InstanceData(scores=logits[b].view(num_frames, slots, -1).transpose(0, 1),
                                bboxes=boxes[b].view(num_frames, slots, 4).transpose(0, 1))
            results.append(self.assigner.assign(pred, InstanceData(labels=gt.labels, bboxes=gt.bboxes,
                                                                   valid=gt.valid)))
        return results

    def match(self, logits: Tensor, boxes: Tensor, targets: List[InstanceData]) -> List[Tuple[Tensor, Tensor]]:
        """Per video (query indices ``t * P + slot``, target rows ``g * T + t``) of the matched pairs."""
        matches = []
        for result in self.assign(logits, boxes, targets):
            queries = torch.nonzero(result.gt_inds > 0, as_tuple=False).flatten()
            matches.append((queries, result.gt_inds[queries] - 1))
        return matches

    # -- losses ---------------------------------------------------------------------------------

    def loss(self, all_logits: Tensor, all_boxes: Tensor, pred_masks: Tensor,
             data_samples: List[TrackDataSample]) -> Dict[str, Tensor]:
        """
        Args:
            all_logits: (L, N, Q, num_classes + 2) all decoder layers, frame-major queries.
            all_boxes: (L, N, Q, 4) cxcywh in [0, 1].
            pred_masks: (N, Q, h, w) mask logits of the last layer.
            data_samples: one TrackDataSample per video with per-frame ``gt_instances`` (masks padded to the
                batch input size).
        """
        targets = [self.sequence_targets(s) for s in data_samples]
        return self.loss_by_targets(all_logits, all_boxes, pred_masks, targets)

    def loss_by_targets(self, all_logits: Tensor, all_boxes: Tensor, pred_masks: Tensor, targets: List[InstanceData],
                        last_matches: Optional[List[Tuple[Tensor, Tensor]]] = None) -> Dict[str, Tensor]:
        """:meth:`loss` on targets in the official layout (see ``sequence_targets``).

        ``last_matches``: the last layer's :meth:`match` when the caller has it already (``VisTR.loss`` computes
        the masks of those slots only), so that it is not matched twice.
        """
        # float32 losses also when the forward pass ran under reduced-precision autocast
        all_logits, all_boxes, pred_masks = all_logits.float(), all_boxes.float(), pred_masks.float()
        num_boxes = sum(gt.valid.numel() for gt in targets)
        num_boxes = reduce_mean(all_logits.new_tensor([num_boxes])).clamp(min=1).item()
        losses = {}
        num_layers = all_logits.shape[0]
        for lid in range(num_layers):
            if lid == num_layers - 1 and last_matches is not None:
                matches = last_matches
            else:
                matches = self.match(all_logits[lid].detach(), all_boxes[lid].detach(), targets)
            layer = self.loss_by_layer(all_logits[lid], all_boxes[lid], matches, targets, num_boxes)
            prefix = '' if lid == num_layers - 1 else f'd{lid}.'
            losses.update({prefix + k: v for k, v in layer.items()})
        losses.update(self.loss_masks(pred_masks, matches, targets, num_boxes))
        return losses

    def loss_by_layer(self, logits: Tensor, boxes: Tensor, matches: List[Tuple[Tensor, Tensor]],
                      targets: List[InstanceData], num_boxes: float) -> Dict[str, Tensor]:
        """CE, L1 and GIoU of one decoder layer. logits (N, Q, C), boxes (N, Q, 4)."""
        n, q, c = logits.shape
        labels = logits.new_full((n, q), c - 1, dtype=torch.long)
        for b, ((queries, rows), gt) in enumerate(zip(matches, targets)):
            labels[b, queries] = gt.labels.flatten()[rows]
        class_weight = getattr(self.loss_cls, 'class_weight', None)
        # the official CE is the class-weighted mean over all queries
        cls_avg = logits.new_tensor(class_weight)[labels].sum() if class_weight is not None else float(n * q)
        loss_cls = self.loss_cls(logits.reshape(n * q, c), labels.flatten(), avg_factor=cls_avg)

        pred_boxes = torch.cat([boxes[b, queries] for b, (queries, _) in enumerate(matches)])
        gt_boxes = torch.cat([gt.bboxes.flatten(0, 1)[rows] for (_, rows), gt in zip(matches, targets)])
        loss_bbox = self.loss_bbox(pred_boxes, gt_boxes, avg_factor=num_boxes)
        loss_iou = self.loss_iou(bbox_cxcywh_to_xyxy(pred_boxes), bbox_cxcywh_to_xyxy(gt_boxes),
                                 avg_factor=num_boxes)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_iou=loss_iou)

    def loss_masks(self, pred_masks: Tensor, matches: List[Tuple[Tensor, Tensor]], targets: List[InstanceData],
                   num_boxes: float) -> Dict[str, Tensor]:
        """Focal and dice losses of the matched pairs. pred_masks (N, Q, h, w); gt masks (n, T, H, W)."""
        gt_hw = self._mask_size(targets)
        src = torch.cat([pred_masks[b, queries] for b, (queries, _) in enumerate(matches)])  # (M, h, w)
        gt = torch.cat([t.masks.flatten(0, 1)[rows] for (_, rows), t in zip(matches, targets)])  # (M, H, W)
        src = F.interpolate(src[:, None], size=gt_hw, mode='bilinear', align_corners=False)[:, 0]
        src, gt = src.flatten(1), gt.flatten(1).to(src.dtype)
        loss_mask = self.loss_mask(src, gt, avg_factor=num_boxes * gt_hw[0] * gt_hw[1])
        loss_dice = self.loss_dice(src, gt, avg_factor=num_boxes)
        return dict(loss_mask=loss_mask, loss_dice=loss_dice)

    @staticmethod
    def _mask_size(targets: List[InstanceData]) -> Tuple[int, int]:
        sizes = {tuple(t.masks.shape[-2:]) for t in targets}
        if len(sizes) != 1:
            raise ValueError(f'gt masks of one batch must share their padded size, got {sorted(sizes)}')
        return sizes.pop()
