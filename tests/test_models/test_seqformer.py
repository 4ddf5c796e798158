"""Behaviour of the SeqFormer model on a tiny configuration: shapes, padding, gradients, learning."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

from .conftest import build_model, tiny_model


def make_clip(t: int, img_hw, pad_hw, num_inst: int = 2, seed: int = 0, absent=()):
    """A clip of moving rectangles: padded frames (T, 3, H, W) and its TrackDataSample."""
    rng = np.random.default_rng(seed)
    h, w = img_hw
    frames = torch.zeros(t, 3, *pad_hw)
    frames[:, :, :h, :w] = torch.from_numpy(rng.normal(size=(t, 3, h, w)).astype(np.float32))
    samples = []
    for ti in range(t):
        boxes, masks, ids = [], [], []
        for k in range(num_inst):
            if (k, ti) in absent:
                continue
            x0, y0 = 4 + 10 * k + 2 * ti, 5 + 6 * k + ti
            x1, y1 = min(x0 + w // 3, w), min(y0 + h // 3, h)
            m = np.zeros(pad_hw, np.uint8)
            m[y0:y1, x0:x1] = 1
            frames[ti, k % 3, y0:y1, x0:x1] += 2.0  # make the object visible in the pixels
            boxes.append([x0, y0, x1, y1])
            masks.append(m)
            ids.append(k + 1)
        frame = DetDataSample(metainfo=dict(img_shape=img_hw, ori_shape=img_hw, batch_input_shape=pad_hw,
                                            pad_shape=pad_hw, frame_id=ti, video_length=t, ori_video_length=t))
        frame.gt_instances = InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            labels=torch.tensor([i % 5 for i in ids], dtype=torch.long),
            masks=BitmapMasks(np.stack(masks) if masks else np.zeros((0, *pad_hw), np.uint8), *pad_hw),
            instances_ids=torch.tensor(ids, dtype=torch.long))
        samples.append(frame)
    track = TrackDataSample()
    track.video_data_samples = samples
    return frames, track


@pytest.fixture(scope='module')
def model():
    return tiny_model().eval()


def test_construction_initialises_every_parameter():
    """A model used without init_weights() (init_model without a checkpoint, the benchmark) must not hold
    uninitialised memory: in deterministic mode torch fills such memory with NaN, which this would expose."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        model = build_model(num_queries=4)
    finally:
        torch.use_deterministic_algorithms(previous)
    state = model.state_dict()
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    assert not bad
    assert not state['level_embed'].any()
    torch.manual_seed(0)
    model.init_weights()
    assert model.encoder.level_embed.std() > 0.5  # normal(0, 1)


@pytest.mark.parametrize('t,hw', [(1, (64, 96)), (5, (64, 96)), (3, (50, 75)), (2, (90, 60))])
def test_tensor_mode_shapes(model, t, hw):
    with torch.no_grad():
        out = model(torch.randn(1, t, 3, *hw), None, mode='tensor')
    h8, w8 = -(-hw[0] // 8), -(-hw[1] // 8)
    assert out['pred_logits'].shape == (1, 12, 5)
    assert out['pred_boxes'].shape == (1, 12, t, 4)
    assert out['pred_masks'].shape == (1, 12, t, 2 * h8, 2 * w8)
    assert len(out['aux_outputs']) == 1 and out['aux_outputs'][0]['pred_boxes'].shape == (1, 12, t, 4)


def test_padded_batch_equals_single_videos(model):
    """Two videos of different sizes padded into one batch give what each gives alone at that padding:
    the padding mask follows img_shape, and nothing mixes videos."""
    f0, s0 = make_clip(3, (64, 96), (64, 96), seed=1)
    f1, s1 = make_clip(3, (40, 72), (64, 96), seed=2)
    with torch.no_grad():
        batch = model(torch.stack([f0, f1]), [s0, s1], mode='tensor', with_intermediates=True)
        alone = model(f1[None], [s1], mode='tensor', with_intermediates=True)
    mask = batch['intermediates']['feat_mask']
    # stride-8 level of video 1: 5 x 9 valid cells of 8 x 12
    level0 = mask[3:6, :8 * 12].view(3, 8, 12)
    assert not mask[:3].any() and not level0[:, :5, :9].any() and level0[:, 5:].all() and level0[:, :, 9:].all()
    for key in ('pred_logits', 'pred_boxes', 'pred_masks'):
        assert torch.allclose(batch[key][1], alone[key][0], atol=1e-4), key
    assert batch['pred_masks'].shape == (2, 12, 3, 16, 24)


def test_gradients_reach_every_trainable_parameter():
    model = tiny_model().train()
    # Fresh inits leave some paths without gradient at step 0 (zero-init residual BN gammas, zero
    # sampling-offset/attention-weight projections); perturb so the test checks the graph itself.
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    frames, sample = make_clip(4, (64, 96), (64, 96), absent={(1, 2)})
    losses = model.loss(frames[None], [sample])
    assert set(losses) == {p + k for p in ('', 'd0.') for k in
                           ('loss_cls', 'loss_bbox', 'loss_iou', 'loss_mask', 'loss_dice')}
    sum(losses.values()).backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    # The bias of the temporal weights is shifted away by the softmax over frames (official: same).
    time_bias = [n for n in trainable if n.endswith('time_attention_weights.bias')]
    assert len(time_bias) == 2 and all(trainable[n].grad.abs().max() < 1e-5 for n in time_bias)
    no_grad = [n for n, p in trainable.items()
               if n not in time_bias and (p.grad is None or p.grad.abs().sum() == 0)]
    assert no_grad == []
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(('backbone.conv1', 'backbone.bn1', 'backbone.layer1.')) or '.bn' in n or
                          'downsample.1' in n for n in frozen)


def test_loss_step_lowers_loss():
    model = tiny_model().train()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    frames, sample = make_clip(3, (64, 96), (64, 96))
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    history = []
    for _ in range(8):
        optim.zero_grad()
        loss = sum(model.loss(frames[None], [sample]).values())
        loss.backward()
        optim.step()
        history.append(loss.item())
    assert history[-1] < 0.8 * history[0], history


def test_predict_contract(model):
    frames, sample = make_clip(4, (64, 96), (64, 96))
    for frame in sample.video_data_samples:
        frame.set_metainfo(dict(ori_shape=(128, 192)))
    with torch.no_grad():
        (result,) = model.predict(frames[None], [sample])
    first = result[0].pred_track_instances
    assert 0 < len(first) <= 10
    for i in range(4):
        pred = result[i].pred_track_instances
        assert pred.masks.shape[1:] == (128, 192) and pred.masks.dtype == torch.bool
        assert torch.equal(pred.instances_id, first.instances_id)
        assert torch.equal(pred.scores, first.scores) and torch.equal(pred.labels, first.labels)
        assert pred.bboxes.shape == (len(first), 4)
    assert torch.all(first.scores[:-1] >= first.scores[1:])


def test_box_loss_can_skip_absent_frames():
    """With box_loss_on_absent=False an absent frame's predicted box does not move the box losses."""
    frames, sample = make_clip(3, (64, 96), (64, 96), absent={(0, 1), (1, 1)})
    results = {}
    for on_absent in (True, False):
        model = tiny_model(box_loss_on_absent=on_absent).eval()
        out = model.forward_transformer(frames[None], [sample])
        boxes = out['boxes'].detach().requires_grad_()
        losses = model.track_head.loss(out['inst_queries'], out['references'], boxes, out['mask_feats'], [sample])
        (losses['loss_bbox'] + losses['loss_iou']).backward()
        results[on_absent] = boxes.grad[-1, 0]  # (T, Q, 4) of the last layer
    assert results[True][1].abs().sum() > 0  # official: the absent frame is pulled towards the 1e-6 box
    assert results[False][1].abs().sum() == 0
    assert results[False][0].abs().sum() > 0


def test_predict_in_chunks_equals_whole_video(model):
    """test_cfg.chunk_size (encoder and masks a few frames at a time) does not change predict's result."""
    frames, sample = make_clip(7, (64, 96), (64, 96))
    with torch.no_grad():
        (whole,) = model.predict(frames[None], [sample.clone()])
        saved = model.track_head.test_cfg
        model.track_head.test_cfg = dict(saved or {}, chunk_size=3)
        try:
            (chunked,) = model.predict(frames[None], [sample.clone()])
        finally:
            model.track_head.test_cfg = saved
    for t in range(7):
        a, b = whole[t].pred_track_instances, chunked[t].pred_track_instances
        assert torch.equal(a.labels, b.labels) and torch.allclose(a.scores, b.scores, atol=1e-5)
        assert (a.masks != b.masks).float().mean() < 1e-3


def _single_group_copy(grouped: torch.nn.Module, group: int) -> torch.nn.Module:
    """A one-group model with the weights of ``grouped`` and the queries of one of its groups."""
    single = tiny_model().eval()
    state = dict(grouped.state_dict())
    q = single.num_queries
    state['query_embedding.weight'] = state['query_embedding.weight'][group * q:(group + 1) * q]
    single.load_state_dict(state)
    return single


def test_query_groups_loss_is_the_mean_of_the_groups_losses():
    """Group DETR training: each group is decoded and matched on its own; the loss averages the groups."""
    grouped = tiny_model(num_query_groups=2).eval()  # eval: no dropout, so every forward is deterministic
    assert grouped.query_embedding.weight.shape[0] == 2 * grouped.num_queries
    frames, sample = make_clip(3, (64, 96), (64, 96), absent={(1, 2)})
    with torch.no_grad():
        losses = grouped.loss(frames[None], [sample])
        per_group = [_single_group_copy(grouped, g).loss(frames[None], [sample]) for g in range(2)]
    assert set(losses) == set(per_group[0])
    for key, value in losses.items():
        expected = (per_group[0][key] + per_group[1][key]) / 2
        assert torch.allclose(value, expected, rtol=1e-4, atol=1e-6), key
    assert not torch.allclose(per_group[0]['loss_cls'], per_group[1]['loss_cls'])  # the groups differ


def test_query_groups_infer_with_the_first_group_only():
    grouped = tiny_model(num_query_groups=3).eval()
    single = _single_group_copy(grouped, 0)
    frames, _ = make_clip(4, (64, 96), (64, 96))
    with torch.no_grad():
        a, b = grouped._forward(frames[None]), single._forward(frames[None])
    assert a['pred_logits'].shape[1] == single.num_queries
    for key in ('pred_logits', 'pred_boxes', 'pred_masks'):
        assert torch.equal(a[key], b[key]), key
    with pytest.raises(ValueError, match='num_query_groups'):
        tiny_model(num_query_groups=0)
