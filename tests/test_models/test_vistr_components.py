"""VisTR components checked against hand computations and the mmdet/mmcv parts they replace."""
import copy
import math
import os.path as osp

import pytest
import torch
from mmcv.ops import DeformConv2d
from mmdet.models.layers import DetrTransformerDecoder, DetrTransformerEncoder
from torch import nn

import mmseqformer  # noqa: F401
from mmseqformer.models.heads import VisTRMaskHead
from mmseqformer.models.layers import (GridSampleDeformConv2d, NoWeightsDetrTransformerDecoder,
                                       NoWeightsDetrTransformerEncoder, VisTRSinePositionalEncoding3D)

from ..conftest import REPO
from .conftest import build_model

VISTR_BASE = osp.join(REPO, 'configs', '_base_', 'models', 'vistr_r50.py')


def tiny_vistr(**overrides) -> nn.Module:
    """VisTR with a ResNet-18, width 192 (the smallest the GN(8) mask head allows), 1+1 layers, 2 x 3 queries."""
    attn = dict(embed_dims=192, num_heads=8, attn_drop=0.1, dropout_layer=dict(type='Dropout', drop_prob=0.1),
                batch_first=True)
    ffn = dict(embed_dims=192, feedforward_channels=256, num_fcs=2, ffn_drop=0.1)
    cfg = dict(num_frames=2, queries_per_frame=3, embed_dims=192,
               backbone=dict(depth=18), positional_encoding=dict(num_feats=64),
               encoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=attn, ffn_cfg=ffn)),
               decoder=dict(num_layers=2, layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn)),
               track_head=dict(num_classes=5, embed_dims=192))
    cfg.update(overrides)
    torch.manual_seed(0)
    model = build_model(VISTR_BASE, **cfg)
    model.init_weights()
    return model.eval()


# -- positional encoding ---------------------------------------------------------------------------

def sine_code(coord: float, num_feats: int) -> torch.Tensor:
    i = torch.arange(num_feats, dtype=torch.float64)
    phase = coord / 10000 ** (2 * (i // 2) / num_feats)
    return torch.where(i % 2 == 0, phase.sin(), phase.cos())


def test_positional_encoding_is_zyx_concatenation_of_normalized_cumsums():
    enc = VisTRSinePositionalEncoding3D(num_feats=8)
    mask = torch.zeros(1, 3, 4, 5, dtype=torch.bool)
    mask[0, :, 3:, :] = True  # padded bottom row
    mask[0, :, :, 4:] = True  # padded right column
    pos = enc(mask)
    assert pos.shape == (1, 3, 24, 4, 5) and pos.dtype == torch.float32
    scale = 2 * math.pi
    t, y, x = 2, 1, 2  # a valid position: cumsums 3 (of 3 frames), 2 (of 3 rows), 3 (of 4 columns)
    expected = torch.cat([sine_code(3 / (3 + 1e-6) * scale, 8), sine_code(2 / (3 + 1e-6) * scale, 8),
                          sine_code(3 / (4 + 1e-6) * scale, 8)])
    assert torch.allclose(pos[0, t, :, y, x].double(), expected, atol=1e-6)
    # along the padded bottom row the y count stays at 3 (normalised: ~1 -> 2 pi)
    assert torch.allclose(pos[0, 0, 8:16, 3, 0].double(), sine_code(3 / (3 + 1e-6) * scale, 8), atol=1e-6)


def test_positional_encoding_unnormalized_counts_and_float64_mask_input():
    enc = VisTRSinePositionalEncoding3D(num_feats=4, normalize=False)
    pos = enc(torch.zeros(2, 2, 2, 3, dtype=torch.bool))
    assert torch.allclose(pos[1, 1, :, 1, 2].double(), torch.cat([sine_code(2, 4), sine_code(2, 4), sine_code(3, 4)]),
                          atol=1e-6)
    with pytest.raises(ValueError, match='even'):
        VisTRSinePositionalEncoding3D(num_feats=5)


# -- transformer without attention weights ------------------------------------------------------------

def count_need_weights(monkeypatch):
    calls = []
    forward = nn.MultiheadAttention.forward

    def recording(self, *args, **kwargs):
        calls.append(kwargs.get('need_weights', True))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(nn.MultiheadAttention, 'forward', recording)
    return calls


def transformer_cfgs(dims=32):
    attn = dict(embed_dims=dims, num_heads=4, attn_drop=0.0, batch_first=True)
    ffn = dict(embed_dims=dims, feedforward_channels=48, num_fcs=2, ffn_drop=0.0)
    return (dict(num_layers=2, layer_cfg=dict(self_attn_cfg=dict(attn), ffn_cfg=dict(ffn))),
            dict(num_layers=3, layer_cfg=dict(self_attn_cfg=dict(attn), cross_attn_cfg=dict(attn),
                                              ffn_cfg=dict(ffn))))


def test_no_weights_transformer_equals_mmdet_detr_and_skips_weights(monkeypatch):
    enc_cfg, dec_cfg = transformer_cfgs()
    torch.manual_seed(0)
    ours_enc, ours_dec = NoWeightsDetrTransformerEncoder(**enc_cfg), NoWeightsDetrTransformerDecoder(**dec_cfg)
    enc_cfg, dec_cfg = transformer_cfgs()
    mm_enc, mm_dec = DetrTransformerEncoder(**enc_cfg), DetrTransformerDecoder(**dec_cfg)
    mm_enc.load_state_dict(ours_enc.state_dict(), strict=True)  # same keys and shapes
    mm_dec.load_state_dict(ours_dec.state_dict(), strict=True)
    for m in (ours_enc, ours_dec, mm_enc, mm_dec):
        m.eval()
    src, pos = torch.randn(2, 10, 32), torch.randn(2, 10, 32)
    pad = torch.zeros(2, 10, dtype=torch.bool)
    pad[1, 7:] = True
    query_pos = torch.randn(2, 4, 32)
    calls = count_need_weights(monkeypatch)
    with torch.no_grad():
        memory = ours_enc(src, pos, pad)
        hs = ours_dec(torch.zeros_like(query_pos), memory, memory, query_pos, pos, pad)
        assert calls == [False] * (2 + 2 * 3)
        assert torch.allclose(memory, mm_enc(src, pos, pad), atol=1e-5)
        assert hs.shape == (3, 2, 4, 32)
        assert torch.allclose(hs, mm_dec(torch.zeros_like(query_pos), memory, memory, query_pos, pos, pad), atol=1e-5)
    assert calls[8:] == [True] * 8  # mmcv's MultiheadAttention asks for the weights


# -- grid_sample deformable convolution --------------------------------------------------------------

@pytest.mark.parametrize('n,c,h,w,stride,pad,dil,groups', [(3, 8, 9, 11, 1, 1, 1, 1), (2, 8, 10, 7, 2, 1, 1, 2),
                                                          (2, 4, 8, 8, 1, 2, 2, 1)])
def test_grid_sample_dcn_equals_mmcv_kernel(n, c, h, w, stride, pad, dil, groups):
    torch.manual_seed(n * h + w)
    ref = DeformConv2d(c, 6, 3, stride=stride, padding=pad, dilation=dil, deform_groups=groups)
    ours = GridSampleDeformConv2d(c, 6, 3, stride=stride, padding=pad, dilation=dil, deform_groups=groups)
    assert list(ours.state_dict()) == list(ref.state_dict()) == ['weight']
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(n, c, h, w)
    h_out, w_out = ours.output_size(h, w)
    offset = torch.randn(n, 2 * groups * 9, h_out, w_out) * 3  # many samples off-grid and outside the map
    assert torch.allclose(ours(x, offset), ref(x, offset), atol=1e-5)
    zero = torch.zeros_like(offset)
    assert torch.allclose(ours(x, zero), nn.functional.conv2d(x, ours.weight, None, stride, pad, dil), atol=1e-5)


def test_grid_sample_dcn_offset_channels_are_dy_dx_per_tap():
    dcn = GridSampleDeformConv2d(1, 1, 3, padding=1)
    with torch.no_grad():
        dcn.weight.zero_()
        dcn.weight[0, 0, 0, 2] = 1.0  # only tap k = 2 (row 0, column 2): reads (y - 1, x + 1)
    x = torch.arange(30.).view(1, 1, 5, 6)
    offset = torch.zeros(1, 18, 5, 6)
    offset[0, 4] = 1.0  # dy of tap 2: +1 row -> reads (y, x + 1)
    offset[0, 5] = 0.5  # dx of tap 2: half a column further
    with torch.no_grad():
        out = dcn(x, offset)[0, 0]
    assert out[2, 2].item() == pytest.approx(x[0, 0, 2, 3].item() + 0.5)  # between columns 3 and 4 of row 2
    assert out[2, 5].item() == 0  # column 6.5: both corners outside the map
    assert out[3, 4].item() == pytest.approx(0.5 * x[0, 0, 3, 5].item())  # column 5.5: one corner inside


def test_grid_sample_dcn_rejects_unsupported_options():
    with pytest.raises(ValueError, match='groups=1'):
        GridSampleDeformConv2d(4, 4, 3, groups=2)
    with pytest.raises(ValueError, match='deform_groups'):
        GridSampleDeformConv2d(6, 4, 3, deform_groups=4)


# -- mask head ---------------------------------------------------------------------------------------

def tiny_mask_head(**kwargs):
    torch.manual_seed(1)
    head = VisTRMaskHead(embed_dims=192, fpn_channels=(64, 32, 16), **kwargs)
    head.init_weights()
    with torch.no_grad():
        head.conv_offset.weight.normal_(std=0.5)  # off-grid samples (the official init is zero)
        head.conv_offset.bias.normal_(std=1.0)
    return head.eval()


def mask_head_inputs(t=3, p=4, h=3, w=4, seed=2):
    g = torch.Generator().manual_seed(seed)
    queries = torch.randn(t, p, 192, generator=g)
    memory = torch.randn(t, 192, h, w, generator=g)
    fpn = tuple(torch.randn(t, c, h * s, w * s, generator=g) for c, s in ((64, 2), (32, 4), (16, 8)))
    return queries, memory, fpn


def test_attention_map_softmax_over_heads_and_positions_with_padding():
    head = tiny_mask_head()
    queries, memory, _ = mask_head_inputs()
    mask = torch.zeros(1, 3, 4, dtype=torch.bool)
    mask[0, :, 3] = True
    attn = head.bbox_attention(queries[:1], memory[:1], mask)
    assert attn.shape == (1, 4, 8, 3, 4)
    assert torch.allclose(attn.sum((2, 3, 4)), torch.ones(1, 4), atol=1e-6)  # one softmax per query
    assert attn[..., 3].abs().max() == 0  # padded column
    # by hand: logits q.k / sqrt(C / heads), keys the 1x1 conv of k_linear
    q = head.bbox_attention.q_linear(queries[0, 1]).view(8, 24)
    k = torch.einsum('oc,chw->ohw', head.bbox_attention.k_linear.weight, memory[0]) + \
        head.bbox_attention.k_linear.bias[:, None, None]
    logits = torch.einsum('nc,nchw->nhw', q, k.view(8, 24, 3, 4)) / math.sqrt(24)
    logits[..., 3] = float('-inf')
    assert torch.allclose(attn[0, 1], logits.flatten().softmax(0).view(8, 3, 4), atol=1e-6)


def test_mask_head_shapes_init_and_dcn_options_agree():
    queries, memory, fpn = mask_head_inputs()
    fresh = VisTRMaskHead(embed_dims=192, fpn_channels=(64, 32, 16))
    fresh.init_weights()
    assert fresh.conv_offset.weight.abs().max() == 0 and fresh.conv_offset.bias.abs().max() == 0
    assert fresh.lay1.bias.abs().max() == 0
    mmcv_head = tiny_mask_head(deform_conv='mmcv')
    torch_head = tiny_mask_head(deform_conv='pytorch')
    assert isinstance(torch_head.dcn, GridSampleDeformConv2d) and isinstance(mmcv_head.dcn, DeformConv2d)
    torch_head.load_state_dict(mmcv_head.state_dict(), strict=True)  # same keys
    with torch.no_grad():
        feats, attn = mmcv_head.frames_features(queries, memory, fpn)
        masks = mmcv_head.instance_masks(feats)
        assert feats.shape == (3, 4, 24, 24, 32) and attn.shape == (3, 4, 8, 3, 4)
        assert masks.shape == (4, 3, 24, 32)
        assert torch.allclose(torch_head(queries, memory, fpn), masks, atol=1e-4)
        # a batch above im2col_step goes in chunks; mmcv alone would assert on 4 % min(3, 4) != 0
        chunked = tiny_mask_head(deform_conv='mmcv', im2col_step=3)
        assert torch.allclose(chunked(queries, memory, fpn), masks, atol=1e-5)


def test_mask_head_slots_are_independent_and_frames_interact_by_parity():
    head = tiny_mask_head()
    queries, memory, fpn = mask_head_inputs(t=3, p=4)
    with torch.no_grad():
        feats, _ = head.frames_features(queries, memory, fpn)
        base = head.instance_masks(feats)
        other_slot = feats.clone()
        other_slot[:, 2] += torch.randn_like(other_slot[:, 2])
        assert torch.equal(head.instance_masks(other_slot)[[0, 1, 3]], base[[0, 1, 3]])
        # a frame-1 change reaches frames 0 and 2 only through the GroupNorm statistics (dilation 2 in time):
        # without the norms the other parity is untouched
        convs_only = copy.deepcopy(head)
        for i, m in enumerate(convs_only.insmask_head):
            if isinstance(m, nn.GroupNorm):
                convs_only.insmask_head[i] = nn.Identity()
        changed = feats.clone()
        changed[1] += torch.randn_like(changed[1])
        before, after = convs_only.instance_masks(feats), convs_only.instance_masks(changed)
        assert torch.equal(after[:, [0, 2]], before[:, [0, 2]]) and not torch.equal(after[:, 1], before[:, 1])
        assert not torch.equal(head.instance_masks(changed)[:, 0], base[:, 0])  # with the norms it does


def test_mask_head_scaled_attention_maps_enter_lay1_with_mean_one():
    """``scale_attention_maps``: lay1 sees the maps times heads x h x w (mean 1 per query), the memory unchanged."""
    queries, memory, fpn = mask_head_inputs()
    official, scaled = tiny_mask_head(), tiny_mask_head(scale_attention_maps=True)
    scaled.load_state_dict(official.state_dict(), strict=True)  # no new weights
    seen = []
    for head in (official, scaled):
        head.lay1.register_forward_hook(lambda module, args, out: seen.append(args[0]))
        with torch.no_grad():
            head.frame_features(queries[0], memory[0], [f[0] for f in fpn])
    official_in, scaled_in = seen
    torch.testing.assert_close(scaled_in[:, :192], official_in[:, :192], rtol=0, atol=0)
    torch.testing.assert_close(scaled_in[:, 192:], official_in[:, 192:] * (8 * 3 * 4))
    torch.testing.assert_close(scaled_in[:, 192:].mean((1, 2, 3)), torch.ones(4))
    assert official_in[:, 192:].sum((1, 2, 3)).allclose(torch.ones(4))  # the official joint softmax


# -- model -------------------------------------------------------------------------------------------

def test_vistr_encode_decode_layouts_and_frame_major_queries():
    model = tiny_vistr()
    frames = torch.randn(4, 3, 64, 96)  # 2 clips of 2 frames
    with torch.no_grad():
        enc = model.encode(frames)
        assert enc['c2'].shape == (4, 64, 16, 24) and enc['src'].shape == (4, 192, 2, 3)
        assert enc['mask_c5'] is None
        dec = model.decode(enc, 2, with_intermediates=True)
        assert dec['hs'].shape == (2, 2, 6, 192) and dec['memory'].shape == (2, 2 * 2 * 3, 192)
        assert dec['logits'].shape == (2, 2, 6, 7) and dec['boxes'].shape == (2, 2, 6, 4)
        assert dec['masks'].shape == (2, 6, 16, 24)
        assert dec['frame_mask_features'].shape == (2, 2, 3, 24, 16, 24)
        # query t * P + j is slot j of frame t: the masks of clip 1 are its slots' 3D-head outputs, frame-major
        slots = model.mask_head.instance_masks(dec['frame_mask_features'][1])  # (P, T, H4, W4)
        assert torch.allclose(dec['masks'][1].view(2, 3, 16, 24), slots.transpose(0, 1), atol=1e-6)
        # each clip is decoded on its own
        alone = model.decode(model.encode(frames[2:]), 2)
        assert torch.allclose(alone['masks'][0], dec['masks'][1], atol=1e-4)
        assert torch.allclose(alone['logits'][:, 0], dec['logits'][:, 1], atol=1e-4)
        with pytest.raises(ValueError, match='num_frames=2'):
            model.decode(model.encode(frames[:3]), 3)


def test_vistr_padding_masks_reach_attention():
    model = tiny_vistr()
    frames = torch.randn(2, 3, 64, 96)
    masks = torch.zeros(2, 64, 96, dtype=torch.bool)
    masks[:, :, 64:] = True  # right third padded: C5 column 2
    with torch.no_grad():
        enc = model.encode(frames, masks)
        assert enc['mask_c5'][:, :, 2].all() and not enc['mask_c5'][:, :, :2].any()
        dec = model.decode(enc, 2, with_intermediates=True)
    assert dec['key_padding_mask'].shape == (1, 12)
    assert dec['bbox_attention'][..., 2].abs().max() == 0


def test_vistr_build_checks():
    model = tiny_vistr()
    assert model.query_embedding.weight.shape == (6, 192) and model.num_queries == 6
    assert model.min_input_side == 32
    with pytest.raises(ValueError, match='queries_per_frame'):
        tiny_vistr(queries_per_frame=0)
    with pytest.raises(ValueError, match='positional_encoding'):
        tiny_vistr(positional_encoding=dict(num_feats=32))
    with pytest.raises(ValueError, match='must be in'):
        model.check_input_size(31, 64)


def clip_samples(num_frames: int, h: int, w: int, boxes) -> list:
    """One TrackDataSample of instances present in every frame; boxes: per instance an (x1, y1, x2, y2) in pixels,
    shifted right by 4 px a frame; masks fill the boxes."""
    import numpy as np
    from mmdet.structures import DetDataSample, TrackDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    frames = []
    for t in range(num_frames):
        xyxy = torch.tensor(boxes, dtype=torch.float32) + torch.tensor([4.0 * t, 0, 4.0 * t, 0])
        masks = np.zeros((len(boxes), h, w), dtype=np.uint8)
        for i, (x1, y1, x2, y2) in enumerate(xyxy.long().tolist()):
            masks[i, y1:y2, x1:x2] = 1
        frame = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), batch_input_shape=(h, w),
                                            frame_id=t))
        frame.gt_instances = InstanceData(bboxes=xyxy, labels=torch.arange(len(boxes)) % 5,
                                          masks=BitmapMasks(masks, h, w), instances_ids=torch.arange(len(boxes)) + 1)
        frames.append(frame)
    track = TrackDataSample()
    track.video_data_samples = frames
    return [track]


def test_vistr_loss_runs_the_mask_head_on_matched_slots_only():
    """The official losses (the head's on the masks of all slots), from the mask head on the matched slots."""
    model = tiny_vistr()  # eval mode: no dropout, so both ways see the same network
    inputs, samples = torch.randn(1, 2, 3, 64, 96), clip_samples(2, 64, 96, [(8, 8, 40, 40), (50, 20, 80, 60)])
    enc = model.encode(inputs.flatten(0, 1))
    full = model.decode(enc, 2)
    reference = model.track_head.loss(full['logits'], full['boxes'], full['masks'], samples)
    computed = []
    frames_features = model.mask_head.frames_features
    model.mask_head.frames_features = lambda queries, *args: computed.append(queries.shape[1]) or frames_features(
        queries, *args)
    losses = model.loss(inputs, samples)
    assert computed == [2]  # 2 targets -> 2 of the 3 slots
    assert losses.keys() == reference.keys()
    for key, value in reference.items():
        torch.testing.assert_close(losses[key], value, rtol=1e-5, atol=1e-6, msg=key)
    sum(losses.values()).backward()
    assert model.mask_head.dcn.weight.grad is not None and model.query_embedding.weight.grad is not None
    assert model.backbone.conv1.weight.grad is None  # frozen stem, as the official


def test_vistr_query_groups_decode_each_group_as_its_own_clip():
    """Group g of a G-group decoding equals decoding with group g's queries alone (no attention across groups),
    masks included; inference (groups=1) uses the first group."""
    model = tiny_vistr(num_query_groups=3)
    assert model.query_embedding.weight.shape == (3 * 6, 192)
    inputs = torch.randn(2, 2, 3, 64, 96)
    with torch.no_grad():
        enc = model.encode(inputs.flatten(0, 1))
        grouped = model.decode(enc, 2, groups=3)
        assert grouped['logits'].shape == (2, 6, 6, 7) and grouped['masks'].shape == (6, 6, 16, 24)
        weight = model.query_embedding.weight.data.clone()
        for g in range(3):
            model.query_embedding.weight.data[:6] = weight[g * 6:(g + 1) * 6]
            alone = model.decode(enc, 2)
            for key in ('logits', 'boxes'):
                torch.testing.assert_close(grouped[key][:, g::3], alone[key], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(grouped['masks'][g::3], alone['masks'], rtol=1e-4, atol=1e-4)
        model.query_embedding.weight.data.copy_(weight)
        torch.testing.assert_close(model.decode(enc, 2)['logits'], grouped['logits'][:, ::3])


def test_vistr_query_group_losses_are_the_mean_over_groups():
    model = tiny_vistr(num_query_groups=2)
    inputs, samples = torch.randn(1, 2, 3, 64, 96), clip_samples(2, 64, 96, [(8, 8, 40, 40)])
    losses = model.loss(inputs, samples)
    enc = model.encode(inputs.flatten(0, 1))
    full = model.decode(enc, 2, groups=2)
    per_group = [model.track_head.loss(full['logits'][:, g:g + 1], full['boxes'][:, g:g + 1],
                                       full['masks'][g:g + 1], samples) for g in range(2)]
    for key, value in losses.items():
        torch.testing.assert_close(value, (per_group[0][key] + per_group[1][key]) / 2, rtol=1e-5, atol=1e-6,
                                   msg=key)
