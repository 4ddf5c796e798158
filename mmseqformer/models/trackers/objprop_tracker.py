"""ObjProp's tracker: MaskTrack R-CNN's association, then objects of the recent past that this frame's detector missed
are propagated into it by the model's ``prop_head``."""
from collections import deque
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import mask2bbox
from mmengine.structures import InstanceData
from torch import Tensor

from .bounded_masktrack_tracker import BoundedMaskTrackRCNNTracker


class FrameMemory(NamedTuple):
    """One past frame: fused features (1, C, h, w); its tracks' ids (n,), boxes (n, 4) in ORIGINAL frame pixels,
    scores (n,), labels (n,) and whether each was detected (n,) (False: propagated)."""
    feats: Tensor
    ids: Tensor
    boxes: Tensor
    scores: Tensor
    labels: Tensor
    detected: Tensor


@MODELS.register_module()
class ObjPropTracker(BoundedMaskTrackRCNNTracker):
    """MaskTrack R-CNN tracking plus ObjProp's propagation of missed objects.

    For each id of the last ``prop_history`` frames that was detected there but is not detected now (at most
    ``max_prop_ids``, those with the highest mean past score), ``prop_head.predict`` propagates its box from every
    past frame where it appears; the mask is the mean of those probability maps >= ``mask_thr``; score = mean of its
    past scores, label = its last label, box = the extent of the mask. Propagated objects enter the history (so they
    propagate on) but not the association's tracks; an id is propagated only while a detection of it is among the
    last ``prop_history`` frames, so an object that left is not carried forever.

    Differences from the official (designed, never released) path, all deliberate: boxes are kept in original-frame
    pixels (the official history stores propagated boxes in padded-input pixels and scales them again), the mask is
    cropped to the frame and resized to the output size like detected masks (the official one stays at the padded
    input size), the box is the extent of that mask in output pixels with an exclusive end (mmdet's ``mask2bbox``),
    the number of propagated ids is bounded. ``propagate=False`` gives the released behaviour (MaskTrack's).

    Args:
        propagate: propagate missed objects. prop_history: past frames kept (official 24).
        max_prop_ids: most objects propagated per frame. mask_thr: threshold of the mean probability (official 0.3).
        max_gap: frames since an id's last detection within which it is propagated (None: ``prop_history``).
        exclude_detected: remove this frame's detected masks from the propagated ones (an object behind a
            detected one is not visible there); not in the original.
        **kwargs: :class:`BoundedMaskTrackRCNNTracker`'s.
    """

    def __init__(self, propagate: bool = True, prop_history: int = 24, max_prop_ids: int = 10,
                 mask_thr: float = 0.3, max_gap: Optional[int] = None, exclude_detected: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if prop_history < 1 or max_prop_ids < 0:
            raise ValueError(f'prop_history must be >= 1 and max_prop_ids >= 0, got {prop_history}, {max_prop_ids}')
        self.propagate, self.max_prop_ids, self.mask_thr = propagate, max_prop_ids, mask_thr
        self.max_gap = prop_history if max_gap is None else max_gap
        self.exclude_detected = exclude_detected
        self.frames: deque = deque(maxlen=prop_history)
        self.previous_feats = None  # the last frame's FPN levels, for a model's test-time attention neck

    def reset(self) -> None:
        super().reset()
        if hasattr(self, 'frames'):
            self.frames.clear()
            self.previous_feats = None

    def associate(self, model: torch.nn.Module, feats: List[Tensor], data_sample: DetDataSample,
                  rescale: bool = True) -> InstanceData:
        """MaskTrack R-CNN's association of the frame's detections (``BoundedMaskTrackRCNNTracker.track``)."""
        return super().track(model=model, feats=feats, data_sample=data_sample, rescale=rescale)

    def track(self, model: torch.nn.Module, feats: List[Tensor], data_sample: DetDataSample, rescale: bool = True,
              **kwargs) -> InstanceData:
        """mmdet's tracker interface: :meth:`associate`, then the propagated objects appended (:meth:`complete`)."""
        tracks = self.associate(model, feats, data_sample, rescale)
        if not self.propagate:
            return tracks
        return self.complete(model.prop_head, model.prop_head.fuse(feats), tracks, data_sample.metainfo, rescale)

    def complete(self, prop_head: torch.nn.Module, fused: Tensor, tracks: InstanceData, meta: dict,
                 rescale: bool) -> InstanceData:
        """Appends the propagated missed objects to ``tracks`` and remembers the frame.

        Args:
            fused: (1, C, h, w) the frame's ``prop_head.fuse`` features. tracks: this frame's tracked detections
                (``instances_id``, ``bboxes``, ``scores``, ``labels``, ``masks`` (n, H_out, W_out)).
            meta: ``img_shape``, ``ori_shape``, ``scale_factor`` (w, h), ``batch_input_shape``.
            rescale: outputs in original pixels (else input pixels).
        """
        if meta.get('frame_id', -1) == 0:  # a new video
            self.frames.clear()
        scale = fused.new_tensor(meta['scale_factor']).repeat(2)
        missing, num_detected = self.missing_ids(tracks.instances_id), len(tracks)
        if len(missing):
            probs, scores, labels = self.propagated_probs(prop_head, fused, missing, scale, meta)
            masks = self.output_masks(probs, meta, rescale)
            if self.exclude_detected and num_detected:
                masks &= ~tracks.masks.bool().any(dim=0)
            keep = masks.flatten(1).any(dim=1)
            found = InstanceData(instances_id=missing[keep], masks=masks[keep], scores=scores[keep],
                                 labels=labels[keep], bboxes=mask2bbox(masks[keep]).float())
            found.masks = found.masks.to(tracks.masks.dtype) if len(tracks) else found.masks
            tracks = InstanceData.cat([tracks, found]) if len(tracks) else found
        boxes = tracks.bboxes if rescale else tracks.bboxes / scale
        detected = torch.arange(len(tracks)) < num_detected
        self.frames.append(FrameMemory(fused, tracks.instances_id, boxes, tracks.scores, tracks.labels, detected))
        return tracks

    def missing_ids(self, ids: Tensor) -> Tensor:
        """Ids detected in the last ``max_gap`` remembered frames and not in ``ids``, highest mean past score first,
        at most ``max_prop_ids``."""
        recent = list(self.frames)[-self.max_gap:] if self.max_gap > 0 else []
        if not recent:
            return ids.new_zeros(0)
        detected = torch.cat([f.ids[f.detected] for f in recent]).unique()
        candidates = detected[~torch.isin(detected, ids)]
        mean_scores = torch.stack([self.past(int(i))[2].mean() for i in candidates]) if len(candidates) else \
            torch.zeros(0)
        return candidates[mean_scores.argsort(descending=True, stable=True)[:self.max_prop_ids]]

    def past(self, obj_id: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Where ``obj_id`` appears in the remembered frames: frame indices (k,), boxes (k, 4) original pixels,
        scores (k,), labels (k,) (oldest first)."""
        rows = [(t, (f.ids == obj_id).nonzero().flatten()[0]) for t, f in enumerate(self.frames)
                if (f.ids == obj_id).any()]
        frames = torch.tensor([t for t, _ in rows])
        boxes = torch.stack([self.frames[t].boxes[r] for t, r in rows])
        scores = torch.stack([self.frames[t].scores[r] for t, r in rows])
        labels = torch.stack([self.frames[t].labels[r] for t, r in rows])
        return frames, boxes, scores, labels

    def propagated_probs(self, prop_head: torch.nn.Module, fused: Tensor, ids: Tensor, scale: Tensor,
                         meta: dict) -> Tuple[Tensor, Tensor, Tensor]:
        """Mean probability maps at the padded input size (m, H, W) of ``ids`` (m,), with their scores and labels
        (m,). The past boxes are scaled by this frame's ``scale`` (w, h, w, h)."""
        pasts = [self.past(int(i)) for i in ids]
        frames = torch.cat([p[0] for p in pasts])
        boxes = torch.cat([p[1] for p in pasts]) * scale
        labels = torch.cat([p[3][-1:].expand(len(p[0])) for p in pasts])  # the last label, for every past frame
        probs = prop_head.predict(fused, [f.feats for f in self.frames], frames, boxes, labels,
                                  tuple(meta['batch_input_shape']))
        owner = torch.cat([torch.full((len(p[0]),), k) for k, p in enumerate(pasts)])
        mean = probs.new_zeros(len(ids), *probs.shape[-2:]).index_add_(0, owner, probs)
        mean /= torch.bincount(owner, minlength=len(ids)).view(-1, 1, 1)
        return mean, torch.stack([p[2].mean() for p in pasts]), torch.stack([p[3][-1] for p in pasts])

    def output_masks(self, probs: Tensor, meta: dict, rescale: bool) -> Tensor:
        """(m, H_pad, W_pad) probabilities -> (m, H_out, W_out) bool: cropped to the frame, resized to the original
        size if ``rescale`` (bilinear, before the threshold), >= ``mask_thr``."""
        img_h, img_w = meta['img_shape'][:2]
        probs = probs[:, :img_h, :img_w]
        if rescale and tuple(meta['ori_shape'][:2]) != (img_h, img_w):
            probs = F.interpolate(probs[:, None], size=tuple(meta['ori_shape'][:2]), mode='bilinear',
                                  align_corners=False)[:, 0]
        return probs >= self.mask_thr
