"""Components of SeqFormer checked against hand computations."""
import numpy as np
import pytest
import torch
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from mmengine.structures import InstanceData

import mmseqformer  # noqa: F401
from mmseqformer.models.heads import SeqFormerMaskHead
from mmseqformer.models.layers import refine_boxes
from mmseqformer.models.utils import ABSENT_BOX_VALUE, build_video_targets

from .test_seqformer import make_clip


def random_tracks(n, t, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, t, 2, generator=g) * 0.6 + 0.2
    wh = torch.rand(n, t, 2, generator=g) * 0.2 + 0.05
    return torch.cat([xy, wh], -1)


def test_video_box_distance_cost_is_official_l2():
    pred, gt = random_tracks(7, 3, 0), random_tracks(2, 3, 1)
    cost = TASK_UTILS.build(dict(type='VideoBBoxDistanceCost', weight=5.0))(
        InstanceData(bboxes=pred), InstanceData(bboxes=gt))
    expected = torch.stack([torch.stack([(p.flatten() - g.flatten()).norm() for g in gt]) for p in pred]) * 5
    assert torch.allclose(cost, expected, atol=1e-6)


def test_video_box_distance_cost_options():
    pred, gt = random_tracks(4, 3, 2), random_tracks(2, 3, 3)
    valid = torch.tensor([[True, False, True], [True, True, True]])
    cost = TASK_UTILS.build(dict(type='VideoBBoxDistanceCost', p=1, mask_absent=True))(
        InstanceData(bboxes=pred), InstanceData(bboxes=gt, valid=valid))
    expected = ((pred[:, None] - gt[None]).abs() * valid[None, :, :, None]).sum((-1, -2))
    assert torch.allclose(cost, expected, atol=1e-6)


def test_video_giou_cost_is_minus_frame_mean():
    pred, gt = random_tracks(5, 4, 4), random_tracks(3, 4, 5)
    cost = TASK_UTILS.build(dict(type='VideoGIoUCost', weight=2.0))(InstanceData(bboxes=pred),
                                                                      InstanceData(bboxes=gt))
    per_frame = torch.stack([bbox_overlaps(bbox_cxcywh_to_xyxy(pred[:, t]), bbox_cxcywh_to_xyxy(gt[:, t]),
                                           mode='giou') for t in range(4)])
    assert torch.allclose(cost, -2 * per_frame.mean(0), atol=1e-6)
    self_cost = TASK_UTILS.build(dict(type='VideoGIoUCost'))(InstanceData(bboxes=gt), InstanceData(bboxes=gt))
    assert torch.allclose(self_cost.diagonal(), torch.full((3,), -1.0), atol=1e-5)


def test_hungarian_matching_with_video_costs_recovers_permutation():
    gt = random_tracks(3, 5, 6)
    perm = torch.tensor([4, 0, 2])
    pred = random_tracks(6, 5, 7)
    pred[perm] = gt + 0.01
    labels = torch.tensor([0, 2, 1])
    logits = torch.full((6, 3), -3.0)
    logits[perm, labels] = 3.0
    assigner = TASK_UTILS.build(dict(type='HungarianAssigner', match_costs=[
        dict(type='FocalLossCost', weight=2.0, eps=1e-8), dict(type='VideoBBoxDistanceCost', weight=5.0),
        dict(type='VideoGIoUCost', weight=2.0)]))
    result = assigner.assign(InstanceData(scores=logits, bboxes=pred), InstanceData(labels=labels, bboxes=gt))
    assert torch.equal(result.gt_inds[perm], torch.tensor([1, 2, 3]))
    assert (result.gt_inds > 0).sum() == 3


def test_mask_head_dynamic_params_layout():
    head = SeqFormerMaskHead(embed_dims=32)
    assert head.num_params == 169  # (8+2)*8 + 8*8 + 8*1 weights + 8 + 8 + 1 biases
    params = torch.arange(169, dtype=torch.float32)[None].repeat(2, 1)
    weights, biases = head.parse_dynamic_params(params)
    assert [w.shape for w in weights] == [(2, 8, 10), (2, 8, 8), (2, 1, 8)]
    assert [b.shape for b in biases] == [(2, 8, 1), (2, 8, 1), (2, 1, 1)]
    # layout: all weights first (row-major out x in), then all biases
    assert weights[0][0, 0].tolist() == list(range(10)) and weights[0][1, 0, 0] == 0 and weights[0][0, 1, 0] == 10
    assert weights[1][0, 0, 0] == 80 and weights[2][0, 0, 0] == 144
    assert biases[0][0, 0, 0] == 152 and biases[1][0, 0, 0] == 160 and biases[2][0, 0, 0] == 168


def test_mask_head_relative_coords_are_ref_minus_cell_centre():
    head = SeqFormerMaskHead(embed_dims=32)
    ref = torch.tensor([[[20.0, 12.0], [4.0, 4.0]]])  # 1 instance, 2 frames, pixels
    rel = head.relative_coords(ref, (3, 5))
    assert rel.shape == (2, 1, 2, 3, 5)
    # cell (y=1, x=2) has centre (2*8+4, 1*8+4) = (20, 12)
    assert rel[0, 0, :, 1, 2].tolist() == [0.0, 0.0]
    assert rel[1, 0, :, 0, 0].tolist() == [0.0, 0.0]
    assert rel[0, 0, :, 0, 0].tolist() == [16.0, 8.0]


def test_mask_head_output_is_quarter_resolution_per_frame():
    head = SeqFormerMaskHead(embed_dims=32)
    head.init_weights()
    feats = torch.randn(4, 8, 6, 10)
    queries, refs = torch.randn(3, 32), torch.rand(3, 4, 2) * 50
    out = head(queries, refs, feats)
    assert out.shape == (3, 4, 12, 20)
    # instances are independent conv groups: one instance alone gives the same logits
    assert torch.allclose(head(queries[1:2], refs[1:2], feats)[0], out[1], atol=1e-5)
    assert head(queries[:0], refs[:0], feats).shape == (0, 4, 12, 20)


def test_refine_boxes_first_layer_offsets_centre_only():
    ref2 = torch.tensor([[0.25, 0.75]])
    deltas = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(refine_boxes(deltas, ref2), torch.tensor([[0.25, 0.75, 0.5, 0.5]]), atol=1e-6)
    ref4 = torch.tensor([[0.3, 0.4, 0.2, 0.1]])
    assert torch.allclose(refine_boxes(deltas, ref4), ref4, atol=1e-5)


def test_video_targets_mark_absent_frames():
    _, sample = make_clip(3, (64, 96), (64, 96), num_inst=2, absent={(1, 1)})
    gt = build_video_targets(sample)
    assert gt.bboxes.shape == (2, 3, 4) and gt.masks.shape == (2, 3, 64, 96)
    assert gt.valid.tolist() == [[True, True, True], [True, False, True]]
    assert torch.all(gt.bboxes[1, 1] == ABSENT_BOX_VALUE) and not gt.masks[1, 1].any()
    # frame 0, instance 0: box (4, 5, 36, 26) in pixels of 96 x 64
    assert torch.allclose(gt.bboxes[0, 0], torch.tensor([20 / 96, 15.5 / 64, 32 / 96, 21 / 64]), atol=1e-6)
    assert gt.instances_ids.tolist() == [1, 2]


@pytest.mark.parametrize('class_rows,num_rows', [('ytvis40', 40), ('all', 42)])
def test_converter_class_rows(class_rows, num_rows):
    from mmseqformer.models.utils import UnknownKeyError, convert_official_state_dict
    sd = {'detr.class_embed.0.weight': torch.arange(42.)[:, None].repeat(1, 4),
          'detr.transformer.decoder.bbox_embed.0.layers.0.weight': torch.zeros(1)}
    out = convert_official_state_dict(sd, class_rows=class_rows)
    assert list(out) == ['track_head.cls_branches.0.weight']
    assert out['track_head.cls_branches.0.weight'].shape[0] == num_rows
    assert out['track_head.cls_branches.0.weight'][0, 0] == (1.0 if class_rows == 'ytvis40' else 0.0)
    with pytest.raises(UnknownKeyError, match='no conversion rule'):
        convert_official_state_dict({'detr.something_new.weight': torch.zeros(1)})
    assert np.isfinite(out['track_head.cls_branches.0.weight'].numpy()).all()


def test_decoder_layer_frame_chunks_change_no_result_at_inference():
    """Long videos run the per-frame blocks a chunk of frames at a time; the output equals one pass."""
    from mmseqformer.models.layers import SeqFormerDecoderLayer
    torch.manual_seed(0)
    c, q, t, levels = 32, 6, 7, 2
    attn = dict(embed_dims=c, num_heads=4, dropout=0.0, batch_first=True)
    layer = SeqFormerDecoderLayer(self_attn_cfg=attn, cross_attn_cfg=dict(embed_dims=c, num_heads=4, num_levels=levels,
                                                                         num_points=2, batch_first=True),
                                  ffn_cfg=dict(embed_dims=c, feedforward_channels=64, ffn_drop=0.0), dropout=0.0)
    layer.init_weights()
    shapes = torch.tensor([[6, 8], [3, 4]])
    start = torch.tensor([0, 48])
    value = torch.randn(t, 60, c)
    args = (torch.randn(1, q, c), torch.randn(1, t, q, c), torch.randn(1, q, c), value, None,
            torch.rand(t, q, levels, 2), shapes, start, t)
    layer.eval()
    with torch.no_grad():
        whole = layer(*args)
        layer.infer_frame_chunk = 3  # chunks of 3, 3 and 1 frames
        chunked = layer(*args)
    for a, b in zip(whole, chunked):
        assert torch.allclose(a, b, atol=1e-5)
    layer.train()  # training keeps one pass (and its autograd graph) over all frames
    calls = []
    handle = layer.cross_attn.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    layer(*args)
    handle.remove()
    assert calls == [t]


def _preprocess(preprocessor_type, video, training):
    from mmdet.registry import MODELS
    preprocessor = MODELS.build(dict(type=preprocessor_type, mean=[10., 20., 30.], std=[2., 4., 5.], bgr_to_rgb=True,
                                     pad_size_divisor=32, test_pad_size_divisor=1))
    out = preprocessor(dict(inputs=[video], data_samples=None), training)
    assert preprocessor.pad_size_divisor == 32  # test-time divisor swapped back
    return out['inputs']


def test_video_data_preprocessor_pads_training_batches_only():
    video = torch.randint(0, 256, (2, 3, 50, 70), dtype=torch.uint8)
    mean, std = torch.tensor([10., 20., 30.]).view(3, 1, 1), torch.tensor([2., 4., 5.]).view(3, 1, 1)
    normalised = (video.flip(1).float() - mean) / std  # BGR -> RGB first
    train = _preprocess('VideoDataPreprocessor', video, training=True)
    assert train.shape == (1, 2, 3, 64, 96)
    assert torch.allclose(train[0, :, :, :50, :70], normalised) and not train[0, :, :, 50:].any()
    test = _preprocess('VideoDataPreprocessor', video, training=False)
    assert test.shape == (1, 2, 3, 50, 70) and torch.allclose(test[0], normalised)


def test_old_data_preprocessor_name_warns_and_matches():
    video = torch.randint(0, 256, (3, 3, 40, 33), dtype=torch.uint8)
    for training in (True, False):
        with pytest.warns(DeprecationWarning, match="'SeqFormerDataPreprocessor' is deprecated and will be "
                                                    "removed; use 'VideoDataPreprocessor'"):
            old = _preprocess('SeqFormerDataPreprocessor', video, training)
        assert torch.equal(old, _preprocess('VideoDataPreprocessor', video, training))
