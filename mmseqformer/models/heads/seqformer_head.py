"""SeqFormer head: video-level classes, per-frame boxes, dynamic masks; Hungarian loss (paper Eq. 7)."""
from typing import Dict, List, Tuple

import torch
from mmdet.models.dense_heads import DeformableDETRHead
from mmdet.registry import MODELS
from mmdet.structures import TrackDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmdet.utils import ConfigType, reduce_mean
from mmengine.structures import InstanceData
from torch import Tensor

from ..utils import build_video_targets
from ..utils.mask_resize import resize_mask_logits


@MODELS.register_module()
class SeqFormerHead(DeformableDETRHead):
    """Class branch on the instance queries, box branch on every frame's box queries, mask head.

    ``cls_branches``/``reg_branches`` come from :class:`DeformableDETRHead` (one per decoder layer,
    focal bias init, zero-init last box layer with ``bias[2:] = -2`` on the first); the decoder uses
    ``reg_branches`` for its per-frame refinement, so box predictions come out of the decoder.

    Every decoder layer is matched on its own outputs and gets the same losses (aux losses are
    prefixed ``d{i}.``). Masks are computed for the matched queries only.

    Args:
        mask_head: config of :class:`SeqFormerMaskHead`.
        loss_mask: focal loss on mask logits at 1/4 resolution over the whole clip.
        loss_dice: dice loss over the whole clip.
        mask_target_stride: gt masks (padded to the batch) are subsampled ``[s//2::s, s//2::s]``.
        box_loss_on_absent: official behaviour (True): frames where an instance is absent still enter
            the L1/GIoU losses with the gt box 1e-6; False leaves them out of the box losses.
        test_cfg: ``max_per_video`` top (query, class) pairs kept at inference (10),
            ``mask_thr`` on sigmoid probabilities (0.5), ``drop_empty`` skips pairs whose mask is
            empty in every frame (official behaviour).
    """

    def __init__(self, *args, mask_head: ConfigType = dict(type='SeqFormerMaskHead'),
                 loss_mask: ConfigType = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                                              loss_weight=2.0),
                 loss_dice: ConfigType = dict(type='DiceLoss', use_sigmoid=True, activate=True, naive_dice=True,
                                              eps=1.0, loss_weight=5.0),
                 mask_target_stride: int = 4, box_loss_on_absent: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mask_head = MODELS.build(mask_head)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)
        self.mask_target_stride = mask_target_stride
        self.box_loss_on_absent = box_loss_on_absent

    def init_weights(self) -> None:
        super().init_weights()
        self.mask_head.init_weights()

    def forward(self, inst_queries: Tensor, boxes: Tensor) -> Tuple[Tensor, Tensor]:
        """
        Args:
            inst_queries: (num_layers, B, Q, C).
            boxes: (num_layers, B, T, Q, 4) from the decoder.

        Returns:
            tuple: class logits (num_layers, B, Q, K); boxes (num_layers, B, Q, T, 4) cxcywh in [0, 1].
        """
        logits = torch.stack([branch(q) for branch, q in zip(self.cls_branches, inst_queries)])
        return logits, boxes.transpose(2, 3)

    # -- masks ---------------------------------------------------------------------------------

    def video_masks(self, inst_queries: Tensor, reference: Tensor, mask_feats: Tensor,
                    img_hw: Tuple[int, int]) -> Tensor:
        """Mask logits of selected queries of one video.

        Args:
            inst_queries: (n, C). reference: (T, n, 2|4) the layer's input reference in [0, 1].
            mask_feats: (T, c, H8, W8). img_hw: unpadded frame size that scales the reference.

        Returns:
            Tensor: (n, T, 2*H8, 2*W8).
        """
        h, w = img_hw
        return self.video_masks_scaled(inst_queries, reference, mask_feats, reference.new_tensor([w, h]))

    def video_masks_scaled(self, inst_queries: Tensor, reference: Tensor, mask_feats: Tensor,
                           img_wh: Tensor) -> Tensor:
        """:meth:`video_masks` with the frame size as a tensor ``img_wh`` (2,) (w, h) (an input of an exported
        graph: the unpadded size cannot be derived from the mask features' size)."""
        ref_xy = reference[..., :2].transpose(0, 1) * img_wh
        return self.mask_head(inst_queries, ref_xy, mask_feats)

    # -- loss ----------------------------------------------------------------------------------

    def loss(self, inst_queries: Tensor, references: List[Tensor], boxes: Tensor, mask_feats: Tensor,
             batch_data_samples: List[TrackDataSample]) -> Dict[str, Tensor]:
        """
        Args:
            inst_queries: (num_layers, B, Q, C). references: list of (B, T, Q, 2|4) layer inputs.
            boxes: (num_layers, B, T, Q, 4). mask_feats: (B*T, c, H8, W8).
            batch_data_samples: one TrackDataSample per video with per-frame ``gt_instances``
                (masks padded to the batch input size).
        """
        all_logits, all_boxes = self(inst_queries, boxes)
        targets = [build_video_targets(s) for s in batch_data_samples]
        num_videos = len(targets)
        mask_feats = mask_feats.view(num_videos, -1, *mask_feats.shape[1:])
        img_hws = [tuple(s[0].metainfo['img_shape'][:2]) for s in batch_data_samples]
        num_inst = sum(len(t.labels) for t in targets)
        num_inst = reduce_mean(all_logits.new_tensor([num_inst], dtype=torch.float)).clamp(min=1).item()

        losses = {}
        num_layers = all_logits.shape[0]
        for lid in range(num_layers):
            layer_losses = self.loss_by_layer(all_logits[lid], all_boxes[lid], inst_queries[lid], references[lid],
                                              mask_feats, img_hws, targets, num_inst)
            prefix = '' if lid == num_layers - 1 else f'd{lid}.'
            losses.update({prefix + k: v for k, v in layer_losses.items()})
        return losses

    def match(self, logits: Tensor, boxes: Tensor, targets: List[InstanceData]) -> List[Tuple[Tensor, Tensor]]:
        """Hungarian matching per video: list of (query indices, gt indices)."""
        matches = []
        for b, gt in enumerate(targets):
            pred = InstanceData(scores=logits[b], bboxes=boxes[b])
            result = self.assigner.assign(pred, InstanceData(labels=gt.labels, bboxes=gt.bboxes, valid=gt.valid))
            query_inds = torch.nonzero(result.gt_inds > 0, as_tuple=False).squeeze(1)
            matches.append((query_inds, result.gt_inds[query_inds] - 1))
        return matches

    def loss_by_layer(self, logits: Tensor, boxes: Tensor, inst_queries: Tensor, reference: Tensor,
                      mask_feats: Tensor, img_hws: List[Tuple[int, int]], targets: List[InstanceData],
                      num_inst: float) -> Dict[str, Tensor]:
        """Losses of one decoder layer.

        Args:
            logits: (B, Q, K). boxes: (B, Q, T, 4). inst_queries: (B, Q, C).
            reference: (B, T, Q, 2|4). mask_feats: (B, T, c, H8, W8).
        """
        # float32 losses also when the forward pass ran under bfloat16 autocast (AutocastOptimWrapper)
        logits, boxes = logits.float(), boxes.float()
        b, q, k = logits.shape
        t = boxes.shape[2]
        matches = self.match(logits, boxes, targets)
        labels = logits.new_full((b, q), k, dtype=torch.long)
        for bi, ((qi, gi), gt) in enumerate(zip(matches, targets)):
            labels[bi, qi] = gt.labels[gi]
        loss_cls = self.loss_cls(logits.reshape(b * q, k), labels.flatten(), avg_factor=num_inst)

        pred_boxes = torch.cat([boxes[bi, qi] for bi, (qi, _) in enumerate(matches)])
        gt_boxes = torch.cat([gt.bboxes[gi] for (_, gi), gt in zip(matches, targets)])
        frame_weight = None
        if not self.box_loss_on_absent:
            frame_weight = torch.cat([gt.valid[gi] for (_, gi), gt in zip(matches, targets)]).flatten().float()
        # Official semantics: summed over instances and coordinates, averaged over frames.
        loss_bbox = self.loss_bbox(pred_boxes.flatten(0, 1), gt_boxes.flatten(0, 1), avg_factor=num_inst * t,
                                   weight=None if frame_weight is None else frame_weight[:, None].expand(-1, 4))
        loss_iou = self.loss_iou(bbox_cxcywh_to_xyxy(pred_boxes.flatten(0, 1)),
                                 bbox_cxcywh_to_xyxy(gt_boxes.flatten(0, 1)), avg_factor=num_inst * t,
                                 weight=frame_weight)

        s = self.mask_target_stride
        pred_masks, gt_masks = [], []
        for bi, ((qi, gi), gt) in enumerate(zip(matches, targets)):
            pred_masks.append(self.video_masks(inst_queries[bi, qi], reference[bi][:, qi], mask_feats[bi],
                                               img_hws[bi]))
            gt_masks.append(gt.masks[gi][..., s // 2::s, s // 2::s])
        pred_masks = torch.cat(pred_masks).flatten(1).float()
        gt_masks = torch.cat(gt_masks).flatten(1).to(pred_masks.dtype)
        if pred_masks.shape != gt_masks.shape:
            raise ValueError(f'mask logits {tuple(pred_masks.shape)} and subsampled gt masks '
                             f'{tuple(gt_masks.shape)} differ: pad the batch to a multiple of 32')
        loss_mask = self.loss_mask(pred_masks, gt_masks, avg_factor=num_inst * pred_masks.shape[1])
        loss_dice = self.loss_dice(pred_masks, gt_masks, avg_factor=num_inst)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_iou=loss_iou, loss_mask=loss_mask,
                    loss_dice=loss_dice)

    # -- inference -----------------------------------------------------------------------------

    @staticmethod
    def resize_masks(masks: Tensor, meta: dict, rescale: bool) -> Tensor:
        """Mask logits (k, T, h4, w4) at 1/4 of the padded input -> (k, T, H, W) at the output size
        (:func:`resize_mask_logits`; a method of the head so that the benchmark can time it as a stage)."""
        return resize_mask_logits(masks, meta, rescale)

    def predict_by_feat(self, *args, **kwargs):
        raise NotImplementedError('SeqFormerHead predicts per video with predict()')

    def loss_by_feat(self, *args, **kwargs):
        raise NotImplementedError('SeqFormerHead computes losses per video with loss()')
