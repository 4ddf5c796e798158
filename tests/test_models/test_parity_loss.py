"""Training-loss parity with the official SeqFormer (../shared/parity/case_loss.pt, README §3)."""
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

from mmseqformer.models.utils import build_video_targets, convert_official_key, convert_official_state_dict

from .conftest import build_model

# official loss name -> (ours, weight)
LOSS_NAMES = {'loss_ce': ('loss_cls', 2.), 'loss_bbox': ('loss_bbox', 5.), 'loss_giou': ('loss_iou', 2.),
              'loss_mask': ('loss_mask', 2.), 'loss_dice': ('loss_dice', 5.)}


def to_track_samples(case, pad_hw=(128, 160)):
    """Official per-video targets -> padded inputs (N, T, 3, H, W) and TrackDataSamples."""
    t = case['meta']['T']
    inputs = torch.zeros(len(case['targets']), t, 3, *pad_hw)
    samples = []
    for vid, (video, tgt) in enumerate(zip(case['inputs']['samples'], case['targets'])):
        h, w = tgt['size'].tolist()
        inputs[vid, :, :, :h, :w] = video.view(t, 3, h, w)
        n = len(tgt['labels'])
        boxes = tgt['boxes'].view(n, t, 4)
        masks = tgt['masks'].view(n, t, h, w).numpy()
        track = TrackDataSample()
        frames = []
        for ti in range(t):
            present = ~(boxes[:, ti] <= 1e-6).all(-1)
            cx, cy, bw, bh = boxes[present, ti].unbind(-1)
            xyxy = torch.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], -1)
            padded = np.zeros((int(present.sum()), *pad_hw), dtype=np.uint8)
            padded[:, :h, :w] = masks[present.numpy(), ti]
            frame = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), batch_input_shape=pad_hw,
                                                pad_shape=pad_hw, frame_id=ti))
            frame.gt_instances = InstanceData(bboxes=xyxy, labels=tgt['labels'][present],
                                              masks=BitmapMasks(padded, *pad_hw),
                                              instances_ids=torch.nonzero(present).flatten() + 1)
            frames.append(frame)
        track.video_data_samples = frames
        samples.append(track)
    return inputs, samples


@pytest.fixture(scope='module')
def loss_case(parity_path):
    return torch.load(osp.join(parity_path, 'case_loss.pt'), weights_only=True)


@pytest.fixture(scope='module')
def model42(official_state_dict):
    model = build_model(track_head=dict(num_classes=42))
    model.load_state_dict(convert_official_state_dict(official_state_dict, class_rows='all'), strict=True)
    return model.eval()  # the official case was recorded without dropout


@pytest.fixture(scope='module')
def loss_run(model42, loss_case):
    inputs, samples = to_track_samples(loss_case)
    model42.zero_grad()
    losses = model42.loss(inputs, samples)
    total = sum(losses.values())
    total.backward()
    # keyed by state-dict key, which the converter names (SeqFormer stores encoder.level_embed as level_embed)
    grads = {k: p.grad.clone() for k, p in model42.state_dict(keep_vars=True).items() if p.grad is not None}
    return dict(losses={k: v.item() for k, v in losses.items()}, total=total.item(), grads=grads,
                inputs=inputs, samples=samples)


def test_every_loss_term(loss_run, loss_case):
    ours = loss_run['losses']
    assert len(ours) == 30
    for off_key, off_val in loss_case['loss_dict'].items():
        m = re.fullmatch(r'(loss_[a-z]+)(?:_(\d))?', off_key)
        if m is None:
            continue  # class_error / cardinality_error are logging only
        name, weight = LOSS_NAMES[m[1]]
        name = name if m[2] is None else f'd{m[2]}.{name}'
        rel = abs(ours[name] / weight - off_val.item()) / abs(off_val.item())
        assert rel <= 2e-4, (off_key, ours[name] / weight, off_val.item())
    assert abs(loss_run['total'] - loss_case['total_weighted_loss'].item()) / loss_case['total_weighted_loss'] <= 2e-4


def test_matches_every_layer(model42, loss_run, loss_case):
    with torch.no_grad():
        out = model42.forward_transformer(loss_run['inputs'], loss_run['samples'])
        logits, boxes = model42.track_head(out['inst_queries'], out['boxes'])
    targets = [build_video_targets(s) for s in loss_run['samples']]
    for lid, official in enumerate(loss_case['matcher_indices_per_layer']):
        for (qi, gi), (off_q, off_g) in zip(model42.track_head.match(logits[lid], boxes[lid], targets), official):
            assert set(zip(qi.tolist(), gi.tolist())) == set(zip(off_q.tolist(), off_g.tolist())), lid


def test_gradient_norms(loss_run, loss_case):
    grads = loss_run['grads']
    checked = 0
    for off_key, off_norm in loss_case['grad_norms'].items():
        if off_key.endswith('time_attention_weights.bias'):
            continue  # exactly zero in exact arithmetic (softmax over frames)
        key = convert_official_key(off_key.replace('detr.transformer.decoder.bbox_embed', 'detr.bbox_embed'))
        ours = grads[key].norm().item()
        assert abs(ours - off_norm) <= 5e-3 * abs(off_norm), (off_key, ours, off_norm)
        checked += 1
    assert checked == len(loss_case['grad_norms']) - 6
    for off_key, grad in loss_case['small_grads'].items():
        if not off_key.endswith('time_attention_weights.bias'):
            key = convert_official_key(off_key)
            assert (grads[key] - grad).abs().max().item() <= 5e-3 * grad.abs().max().item() + 1e-6, off_key


def test_no_gradient_only_where_official_has_none(model42, loss_run):
    """Every trainable parameter receives a gradient (the official dead encoder projection is dropped)."""
    params = model42.state_dict(keep_vars=True).items()
    missing = [k for k, p in params if p.requires_grad and k not in loss_run['grads']]
    assert len(loss_run['grads']) == sum(p.requires_grad for p in model42.parameters())
    assert missing == []
