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


# -- second level: the full model with the converted official weights ------------------------------


@pytest.fixture(scope='module', params=CASES)
def model_run(request, official_vistr_state_dict):
    """Losses, gradients and outputs of our VisTR (converted official weights, eval mode) on a loss case."""
    from mmseqformer.models.utils.vistr_converter import convert_official_state_dict

    from .conftest import build_model
    from .test_vistr_components import VISTR_BASE

    case = load_loss_case(request.param)
    model = build_model(VISTR_BASE, num_frames=case['config']['num_frames'],
                        queries_per_frame=case['config']['num_ins_per_frame'])
    converted, _, _ = convert_official_state_dict(official_vistr_state_dict, source='vistr')
    model.load_state_dict(converted, strict=True)
    model.eval()  # the official case was recorded without dropout
    inputs = case['inputs']['samples_tensors'][None]
    samples = track_samples(case)
    losses = model.loss(inputs, samples)
    sum(losses.values()).backward()
    grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    with torch.no_grad():
        out = model._forward(inputs, samples)
    logits = torch.stack([a['pred_logits'] for a in out['aux_outputs']] + [out['pred_logits']])
    boxes = torch.stack([a['pred_boxes'] for a in out['aux_outputs']] + [out['pred_boxes']])
    return dict(case=case, model=model, losses={k: v.detach() for k, v in losses.items()}, grads=grads,
                logits=logits, boxes=boxes, masks=out['pred_masks'], targets=head_targets(model, samples))


def head_targets(model, samples):
    return [model.track_head.sequence_targets(s) for s in samples]


def test_model_losses_and_matches(model_run):
    case = model_run['case']
    assert_losses_match(model_run['losses'], case)
    head = model_run['model'].track_head
    fixed = vistr_head(fix_valid_index=True)
    for reference, matcher in ((case, head), (case['fixed_matcher'], fixed)):
        for lid, per_video in enumerate(reference['matcher_indices_per_layer']):
            ours = matcher.match(model_run['logits'][lid], model_run['boxes'][lid], model_run['targets'])
            for (queries, rows), (off_queries, off_rows) in zip(ours, per_video):
                assert set(zip(queries.tolist(), rows.tolist())) == set(zip(off_queries.tolist(), off_rows.tolist()))
    # the fixed matcher on our model's outputs gives the stored fixed_matcher losses
    assert_losses_match(fixed.loss_by_targets(model_run['logits'], model_run['boxes'], model_run['masks'],
                                              model_run['targets']), case['fixed_matcher'])


# exactly zero in exact arithmetic (README section 4): float32 noise, no relative comparison
ZERO_GRADIENTS = ('vistr.transformer.decoder.layers.0.self_attn.in_proj_weight',)


def test_model_gradient_norms(model_run):
    from mmseqformer.models.utils.vistr_converter import convert_official_key

    case, grads = model_run['case'], model_run['grads']
    checked = set()
    for off_key, off_norm in case['grad_norms'].items():
        key = convert_official_key(off_key)
        checked.add(key)
        if off_key in ZERO_GRADIENTS:
            assert grads[key].norm().item() < 1e-4, off_key
            continue
        ours = grads[key].double().norm().item()
        assert abs(ours - off_norm) <= 2e-2 * abs(off_norm), (off_key, ours, off_norm)
    assert checked == set(grads)  # every parameter with a gradient has an official one
    # full gradients: the README's tolerance is on norms (checked above); here the direction. Float noise is
    # amplified through the DCN's bilinear sampling and the sharp cross-attention (query_embed: difference 1.9e-2
    # of its norm, cosine 0.9998), so elementwise bounds would be arbitrary.
    for off_key, off_grad in case['small_grads'].items():
        ours = grads[convert_official_key(off_key)].double().flatten()
        cosine = torch.nn.functional.cosine_similarity(ours, off_grad.double().flatten(), dim=0).item()
        assert cosine >= 0.999, (off_key, cosine)
    total = sum(g.double().pow(2).sum() for g in grads.values()).sqrt().item()
    assert abs(total - case['total_grad_norm']) <= 2e-2 * case['total_grad_norm']


def test_model_params_without_grad(model_run):
    """Ours without gradient: the official frozen convs plus the frozen BatchNorm affines (official buffers)."""
    from mmseqformer.models.utils.vistr_converter import convert_official_key

    model, grads = model_run['model'], model_run['grads']
    norm_params = {f'{name}.{p}' for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)
                   for p in ('weight', 'bias')}
    without = {k for k, p in model.named_parameters() if k not in grads}
    assert all(not p.requires_grad for k, p in model.named_parameters() if k in without)
    assert without - norm_params == {convert_official_key(k) for k in model_run['case']['params_without_grad']}
