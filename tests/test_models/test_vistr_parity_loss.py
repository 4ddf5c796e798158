"""VisTR training-loss parity with the official code (../shared/parity_vistr/case_loss*.pt, README sections 4, 6).

First level: the stored official outputs and targets go through our matcher and mmdet losses (no model).
"""
import re

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

from ..conftest import vistr_parity_cases
from .test_vistr_matcher import COSTS, all_layers, load_loss_case, official_targets

CASES = vistr_parity_cases('case_loss')
# official loss name -> (ours, loss_weight)
LOSS_NAMES = {'loss_ce': ('loss_cls', 1.), 'loss_bbox': ('loss_bbox', 5.), 'loss_giou': ('loss_iou', 2.),
              'loss_mask': ('loss_mask', 1.), 'loss_dice': ('loss_dice', 1.)}


def vistr_head(fix_valid_index=False, num_classes=40):
    from mmdet.registry import MODELS

    import mmseqformer.models  # noqa: F401
    assigner = dict(type='SequenceHungarianAssigner', fix_valid_index=fix_valid_index, match_costs=COSTS)
    return MODELS.build(dict(type='VisTRHead', num_classes=num_classes, train_cfg=dict(assigner=assigner)))


def our_name(official: str):
    """'loss_giou_3' -> ('d3.loss_iou', 2.0); logging-only entries -> None."""
    m = re.fullmatch(r'(loss_[a-z]+)(?:_(\d+))?', official)
    if m is None:
        return None
    name, weight = LOSS_NAMES[m[1]]
    return (name if m[2] is None else f'd{m[2]}.{name}'), weight


def assert_losses_match(ours: dict, reference: dict, rtol: float = 2e-4):
    expected = {}
    for off_key, off_val in reference['loss_dict'].items():
        mapped = our_name(off_key)
        if mapped is not None:
            expected[mapped[0]] = off_val.item() * mapped[1]
    assert set(ours) == set(expected)
    for name, value in expected.items():
        assert abs(ours[name].item() - value) <= rtol * abs(value), (name, ours[name].item(), value)
    total = sum(ours.values()).item()
    reference_total = reference['total_weighted_loss'].item()
    assert abs(total - reference_total) <= rtol * reference_total


def track_samples(case) -> list:
    """The official targets as our per-frame data samples (labels 0..K-1, pixel xyxy boxes, bitmap masks)."""
    t = case['config']['num_frames']
    samples = []
    for tgt in case['targets']:
        h, w = tgt['size'].tolist()
        n = len(tgt['labels']) // t
        boxes, labels = tgt['boxes'].view(n, t, 4), tgt['labels'].view(n, t)
        valid, masks = tgt['valid'].view(n, t).bool(), tgt['masks'].view(n, t, h, w).numpy()
        frames = []
        for ti in range(t):
            present = valid[:, ti]
            cx, cy, bw, bh = boxes[present, ti].unbind(-1)
            xyxy = torch.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], -1)
            frame = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), batch_input_shape=(h, w),
                                                frame_id=ti))
            frame.gt_instances = InstanceData(bboxes=xyxy, labels=labels[present, ti] - 1,
                                              masks=BitmapMasks(np.ascontiguousarray(masks[present.numpy(), ti]),
                                                                h, w),
                                              instances_ids=torch.nonzero(present).flatten() + 1)
            frames.append(frame)
        track = TrackDataSample()
        track.video_data_samples = frames
        samples.append(track)
    return samples


@pytest.mark.parametrize('case_path', CASES)
@pytest.mark.parametrize('fix', [False, True], ids=['official', 'fixed_matcher'])
def test_every_loss_entry_from_stored_outputs(case_path, fix):
    case = load_loss_case(case_path)
    logits, boxes = all_layers(case)
    ours = vistr_head(fix).loss_by_targets(logits, boxes, case['outputs']['pred_masks'], official_targets(case))
    num_layers = logits.shape[0]
    assert len(ours) == 3 * num_layers + 2  # masks on the last layer only
    assert_losses_match(ours, case['fixed_matcher'] if fix else case)


@pytest.mark.parametrize('case_path', CASES)
def test_data_samples_give_the_official_targets_and_losses(case_path):
    case = load_loss_case(case_path)
    head = vistr_head()
    samples = track_samples(case)
    for sample, official in zip(samples, official_targets(case)):
        ours = head.sequence_targets(sample)
        assert torch.equal(ours.labels, official.labels) and torch.equal(ours.valid, official.valid)
        torch.testing.assert_close(ours.bboxes, official.bboxes, rtol=0, atol=1e-6)
        assert (ours.bboxes[~ours.valid] == 0).all()  # the official absent box is zero, not 1e-6
        assert torch.equal(ours.masks, official.masks.bool())
    logits, boxes = all_layers(case)
    assert_losses_match(head.loss(logits, boxes, case['outputs']['pred_masks'], samples), case)


def test_default_class_weight_and_mmdet_names():
    head = vistr_head(num_classes=40)
    assert head.loss_cls.class_weight == [1.0] * 41 + [0.1]
    assert (head.loss_bbox.loss_weight, head.loss_iou.loss_weight) == (5.0, 2.0)
    assert (head.loss_mask.loss_weight, head.loss_dice.loss_weight) == (1.0, 1.0)
    with pytest.raises(ValueError, match='num_classes \\+ 2 = 42'):
        from mmdet.registry import MODELS
        MODELS.build(dict(type='VisTRHead', loss_cls=dict(type='CrossEntropyLoss', class_weight=[1.0] * 41)))


def test_video_without_gt_only_classification():
    """No gt: everything is no-object; box and mask losses are 0 but keep the graph; num_boxes is clamped to 1."""
    head = vistr_head(num_classes=3)
    logits = torch.randn(2, 1, 6, 5, requires_grad=True)  # L=2, T=2, P=3
    boxes = torch.rand(2, 1, 6, 4, requires_grad=True)
    masks = torch.randn(1, 6, 4, 4, requires_grad=True)
    gt = InstanceData(labels=torch.zeros(0, 2, dtype=torch.long), bboxes=torch.zeros(0, 2, 4),
                      valid=torch.zeros(0, 2, dtype=torch.bool), masks=torch.zeros(0, 2, 16, 16, dtype=torch.bool))
    losses = head.loss_by_targets(logits, boxes, masks, [gt])
    expected_ce = torch.nn.functional.cross_entropy(logits[1, 0], torch.full((6,), 4))
    torch.testing.assert_close(losses['loss_cls'], expected_ce)
    for name in ('loss_bbox', 'loss_iou', 'loss_mask', 'loss_dice', 'd0.loss_bbox'):
        assert losses[name].item() == 0.0, name
    sum(losses.values()).backward()
    assert logits.grad is not None and boxes.grad is not None and masks.grad is not None
