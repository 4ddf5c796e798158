"""Video-level ground truth from per-frame annotations."""
import torch
from mmdet.structures import TrackDataSample
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmengine.structures import InstanceData

# The official code gives an absent frame the zero box, clamped to this value.
ABSENT_BOX_VALUE = 1e-6


def _to_tensor(boxes) -> torch.Tensor:
    return boxes.tensor if hasattr(boxes, 'tensor') else torch.as_tensor(boxes)


def build_video_targets(track_sample: TrackDataSample, with_masks: bool = True) -> InstanceData:
    """Gather one video's per-frame ``gt_instances`` into one track per instance id.

    Instances are ordered by instance id; a frame where an instance is absent gets the box
    ``ABSENT_BOX_VALUE`` in every coordinate, an empty mask and ``valid=False``.

    Returns:
        InstanceData with
        - labels (n,) long
        - bboxes (n, T, 4) cxcywh normalized by the unpadded frame size (``img_shape``)
        - valid (n, T) bool
        - instances_ids (n,) long
        - masks (n, T, H, W) bool at the size of the frames' masks (padded to the batch by the
          data preprocessor), if ``with_masks``.
    """
    frames = [track_sample[i] for i in range(len(track_sample))]
    t = len(frames)
    ids = torch.cat([f.gt_instances.instances_ids.long().cpu() for f in frames]).unique().tolist()
    n = len(ids)
    index = {iid: k for k, iid in enumerate(ids)}
    first = frames[0].gt_instances
    device = first.labels.device
    labels = torch.zeros(n, dtype=torch.long, device=device)
    bboxes = torch.full((n, t, 4), ABSENT_BOX_VALUE, device=device)
    valid = torch.zeros(n, t, dtype=torch.bool, device=device)
    masks = None
    for ti, frame in enumerate(frames):
        gt = frame.gt_instances
        img_h, img_w = frame.metainfo['img_shape'][:2]
        rows = torch.tensor([index[int(i)] for i in gt.instances_ids], dtype=torch.long, device=device)
        if with_masks and masks is None:
            mask_h, mask_w = gt.masks.height, gt.masks.width
            masks = torch.zeros((n, t, mask_h, mask_w), dtype=torch.bool, device=device)
        if len(rows) == 0:
            continue
        scale = torch.tensor([img_w, img_h, img_w, img_h], dtype=torch.float32, device=device)
        boxes = bbox_xyxy_to_cxcywh(_to_tensor(gt.bboxes).to(device).float()) / scale
        bboxes[rows, ti] = boxes.clamp(min=ABSENT_BOX_VALUE)
        labels[rows] = gt.labels.to(device).long()
        valid[rows, ti] = True
        if with_masks:
            masks[rows, ti] = gt.masks.to_tensor(dtype=torch.bool, device=device)
    out = InstanceData(labels=labels, bboxes=bboxes, valid=valid,
                       instances_ids=torch.tensor(ids, dtype=torch.long, device=device))
    if with_masks:
        out.masks = masks
    return out
