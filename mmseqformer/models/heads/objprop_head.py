"""ObjProp's propagation head (Chakravarthy et al., "Object Propagation via Inter-Frame Attentions for Temporally
Stable Video Instance Segmentation", 2021): where a reference frame's object is in the current frame, by attention
between the two frames' stride-8 features, then its mask from the current features under that attention."""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import get_box_tensor
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..utils.box_raster import gaussian_cell_prior, rasterise_boxes


@MODELS.register_module()
class ObjPropHead(BaseModule):
    """Propagates reference-frame boxes to the current frame and predicts their masks there.

    1. ``fuse``: P2..P5 resized to stride 8, concatenated, 1x1 conv-BN-ReLU, 3x3 conv-BN-ReLU, 1x1 conv.
    2. ``affinity``: ``S[i, j] = softmax_i(<ref_i, cur_j>)``: each current cell spreads over the reference cells.
    3. ``propagate``: ``fg = box^T S``, ``bg = (1 - box)^T S`` for a reference box rasterised at stride 8.
    4. ``attention``: ``softmax([bg, fg])`` at input resolution, fg channel, resized back to stride 8.
    5. ``mask_logits``: the current features times the attention, 4 x (3x3 conv + ReLU), x2 deconv + ReLU, 1x1 conv
       to one channel per class (stride 4).

    Parameter names are the official ones (``convs``, ``mask_convs``, ``upsample``, ``conv_logits``), with 0-based
    classes (the official head has a background channel 0). ``affinity='weighted'`` adds ``affinity_weight``
    (C x C, identity at init): ``S = softmax_i(ref_i^T W cur_j)`` (the follow-up study's weighted affinity).

    Args:
        in_channels: FPN channels. num_levels: FPN levels fused (P2..P5 = 4, strides 4..32).
        channels: fused and mask-branch channels. num_classes: mask channels.
        num_mask_convs: 3x3 convs of the mask branch. affinity: 'dot' or 'weighted'.
        sigma: width in stride-8 cells of the spatial prior at inference (``exp(-d^2 / sigma^2)``).
        loss_attn_weight, loss_mask_weight: weights of ``loss_propattn`` and ``loss_propmask``.
        predict_chunk: boxes per pass of the mask branch at inference (memory, not results).
    """

    def __init__(self, in_channels: int = 256, num_levels: int = 4, channels: int = 256, num_classes: int = 40,
                 num_mask_convs: int = 4, affinity: str = 'dot', sigma: float = 8.0, loss_attn_weight: float = 1.0,
                 loss_mask_weight: float = 1.0, predict_chunk: int = 8, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.predict_chunk = predict_chunk
        if affinity not in ('dot', 'weighted'):
            raise ValueError(f"affinity must be 'dot' or 'weighted', got {affinity!r}")
        self.num_levels, self.num_classes, self.sigma = num_levels, num_classes, sigma
        self.loss_attn_weight, self.loss_mask_weight = loss_attn_weight, loss_mask_weight
        self.convs = nn.Sequential(
            nn.Conv2d(in_channels * num_levels, channels, 1), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1))
        self.mask_convs = nn.ModuleList(ConvModule(channels, channels, 3, padding=1) for _ in range(num_mask_convs))
        self.upsample = nn.ConvTranspose2d(channels, channels, 2, stride=2)
        self.conv_logits = nn.Conv2d(channels, num_classes, 1)
        if affinity == 'weighted':
            self.affinity_weight = nn.Parameter(torch.eye(channels))

    def init_weights(self) -> None:
        """Official init: convs kaiming normal (fan_out, relu) with bias 0, BN weight 1 and bias 1; the deconv keeps
        PyTorch's default."""
        super().init_weights()
        for module in self.modules():
            if type(module) is nn.Conv2d:
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.ones_(module.bias)

    def fuse(self, feats: Sequence[Tensor]) -> Tensor:
        """FPN levels (B, C, H/4, W/4), (B, C, H/8, W/8), ... -> fused (B, channels, H/8, W/8)."""
        size = feats[1].shape[-2:]
        levels = [lvl if lvl.shape[-2:] == size else F.interpolate(lvl, size=size, mode='bilinear',
                                                                   align_corners=False)
                  for lvl in feats[:self.num_levels]]
        return self.convs(torch.cat(levels, dim=1))

    def affinity(self, ref: Tensor, cur: Tensor) -> Tensor:
        """ref, cur (B, C, h, w) -> S (B, h*w ref, h*w cur), each column a softmax over the reference cells."""
        ref, cur = ref.flatten(2), cur.flatten(2)
        if hasattr(self, 'affinity_weight'):
            cur = torch.einsum('dc,bcn->bdn', self.affinity_weight, cur)
        return torch.bmm(ref.transpose(1, 2), cur).softmax(dim=1)

    @staticmethod
    def propagate(grids: Tensor, affinity: Tensor) -> Tensor:
        """grids (N, h, w) reference boxes at stride 8, one affinity (h*w, h*w) -> [bg, fg] (N, 2, h, w).

        One matrix product for all the boxes of a reference frame: the (h*w)^2 affinity is read once, not per box.
        """
        flat = grids.flatten(1)  # (N, hw)
        fg = flat @ affinity
        bg = (1 - flat) @ affinity
        return torch.stack([bg, fg], dim=1).view(-1, 2, *grids.shape[-2:])

    @staticmethod
    def attention(bg_fg: Tensor, pad_hw: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
        """[bg, fg] (N, 2, h, w) -> (probabilities (N, 2, H, W) at input size, fg attention (N, 1, h, w)).

        The softmax is taken at input resolution and resized back (not taken at stride 8): that is the trained
        behaviour, and they differ by up to 0.02.
        """
        full = F.interpolate(bg_fg, size=pad_hw, mode='bilinear', align_corners=False)
        attn = full.softmax(dim=1)[:, 1:]
        return full, F.interpolate(attn, size=bg_fg.shape[-2:], mode='bilinear', align_corners=False)

    def mask_logits(self, feats: Tensor, attn: Tensor) -> Tensor:
        """feats (N, C, h, w) current frame, attn (N, 1, h, w) -> logits (N, num_classes, 2h, 2w)."""
        x = feats * attn
        for conv in self.mask_convs:
            x = conv(x)
        return self.conv_logits(F.relu(self.upsample(x)))

    def label_logits(self, feats: Tensor, attn: Tensor, labels: Tensor, pad_hw: Tuple[int, int]) -> Tensor:
        """The mask logit of each row's label at input size: feats (N, C, h, w), attn (N, 1, h, w), labels (N,) ->
        (N, H, W)."""
        logits = self.mask_logits(feats, attn)[torch.arange(len(labels)), labels]
        return F.interpolate(logits.unsqueeze(1), size=pad_hw, mode='bilinear', align_corners=False)[:, 0]

    def loss(self, feats: Sequence[Tensor], ref_feats: Sequence[Tensor], key_samples: List[DetDataSample],
             ref_samples: List[DetDataSample]) -> dict:
        """Losses of propagating every reference GT instance to the key frame.

        Args:
            feats, ref_feats: FPN levels of the key and the reference frames, each (B, C, H_l, W_l).
            key_samples, ref_samples: ``gt_instances`` with ``bboxes`` (n, 4), ``labels``, ``instances_ids`` and
                (key) ``masks`` at the padded batch size; ``batch_input_shape`` (H, W).

        Returns:
            ``loss_propattn``: cross-entropy of (bg, fg) against the key GT box of the same instance (all-zero for
            instances gone from the key frame), over every reference instance and padded pixel.
            ``loss_propmask``: BCE of the label's mask channel against the key GT mask, instances in both frames.
            ``attn_propacc``: pixel accuracy of the attention (%), logged only.
        """
        fused = self.fuse(feats)
        fused_ref = self.fuse(ref_feats)  # separate BN calls: each frame has its own batch statistics
        pad_hw = tuple(key_samples[0].metainfo['batch_input_shape'])
        rows = [self._rows(b, fused, fused_ref, key, ref) for b, (key, ref) in enumerate(zip(key_samples, ref_samples))]
        bg_fg, images, attn_targets, present, labels, mask_targets = (torch.cat(parts) for parts in zip(*rows))
        if len(bg_fg) == 0:  # no reference instance in the batch: nothing to propagate
            zero = fused.sum() * 0 + fused_ref.sum() * 0
            return dict(loss_propattn=zero, loss_propmask=zero, attn_propacc=zero.detach() + 100)
        full, attn = self.attention(bg_fg, pad_hw)
        attn_targets = rasterise_boxes(attn_targets, pad_hw).long() * present.view(-1, 1, 1)
        losses = dict(loss_propattn=self.loss_attn_weight * F.cross_entropy(full, attn_targets),
                      attn_propacc=100 * (full.argmax(dim=1) == attn_targets).float().mean().detach())
        keep = present.nonzero().flatten()
        if len(keep) == 0:
            losses['loss_propmask'] = fused.sum() * 0
            return losses
        logits = self.label_logits(fused[images[keep]], attn[keep], labels[keep], pad_hw)
        losses['loss_propmask'] = self.loss_mask_weight * F.binary_cross_entropy_with_logits(
            logits, mask_targets[keep].float())
        return losses

    def _rows(self, b: int, fused: Tensor, fused_ref: Tensor, key: DetDataSample,
              ref: DetDataSample) -> Tuple[Tensor, ...]:
        """One row per reference instance of image ``b``: its [bg, fg] (n, 2, h, w), image index (n,), key box (n, 4),
        presence in the key frame (n,), key label (n,), key mask (n, H, W)."""
        ref_gt, key_gt = ref.gt_instances, key.gt_instances
        ref_boxes = get_box_tensor(ref_gt.bboxes).view(-1, 4)
        grids = rasterise_boxes(ref_boxes, fused.shape[-2:], stride=8)
        affinity = self.affinity(fused_ref[b:b + 1], fused[b:b + 1])[0]
        match = ref_gt.instances_ids.view(-1, 1) == key_gt.instances_ids.view(1, -1)  # (n_ref, n_key)
        present = match.any(dim=1)
        # an absent instance gathers the appended empty row: zero box, label 0, empty mask
        index = torch.where(present, match.int().argmax(dim=1) if match.numel() else 0, len(key_gt))
        key_boxes = torch.cat([get_box_tensor(key_gt.bboxes).view(-1, 4), ref_boxes.new_zeros(1, 4)])
        key_labels = torch.cat([key_gt.labels, key_gt.labels.new_zeros(1)])
        pad_hw = tuple(key.metainfo['batch_input_shape'])
        key_masks = key_gt.masks.to_tensor(torch.uint8, ref_boxes.device).view(-1, *pad_hw)
        key_masks = torch.cat([key_masks, key_masks.new_zeros(1, *pad_hw)])
        return (self.propagate(grids, affinity), torch.full_like(index, b), key_boxes[index], present,
                key_labels[index], key_masks[index])

    def predict(self, feats: Tensor, past_feats: Sequence[Tensor], past_index: Tensor, boxes: Tensor,
                labels: Tensor, pad_hw: Tuple[int, int]) -> Tensor:
        """Mask probabilities in the current frame of boxes from past frames.

        Args:
            feats: (1, C, h, w) fused current frame. past_feats: P fused past frames, each (1, C, h, w).
            past_index: (N,) past frame of each box. boxes: (N, 4) in current input pixels. labels: (N,).
            pad_hw: padded input size (H, W) = (8h, 8w).

        Returns:
            (N, H, W) sigmoid of each box's label channel, with the spatial prior on the affinity.
        """
        prior = gaussian_cell_prior(feats.shape[-2:], self.sigma, feats.device)
        grids = rasterise_boxes(boxes, feats.shape[-2:], stride=8)
        bg_fg = grids.new_zeros(len(boxes), 2, *grids.shape[-2:])
        for p in past_index.unique().tolist():  # one (h*w)^2 affinity at a time
            rows = (past_index == p).nonzero().flatten()
            affinity = self.affinity(past_feats[p], feats)[0] * prior  # not renormalised
            bg_fg[rows] = self.propagate(grids[rows], affinity)
        _, attn = self.attention(bg_fg, pad_hw)
        probs = attn.new_empty(len(boxes), *pad_hw)
        for start in range(0, len(boxes), self.predict_chunk):  # bounds the mask branch's memory (rows x C x 2h x 2w)
            rows = slice(start, start + self.predict_chunk)
            chunk = attn[rows]
            probs[rows] = self.label_logits(feats.expand(len(chunk), -1, -1, -1), chunk, labels[rows], pad_hw).sigmoid()
        return probs
