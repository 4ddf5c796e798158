"""The export-friendly layers (level sizes as Python ints, batched-matmul dynamic convs, optional frame chunks) give
the values of the code they replace: mmdet's deformable encoder, mmcv's deformable attention and its PyTorch path,
and the grouped-conv dynamic mask head."""
import pytest
import torch
import torch.nn.functional as F
from mmcv.ops import multi_scale_deform_attn
from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttention
from mmdet.models.layers import DeformableDetrTransformerEncoder
from mmdet.models.utils import aligned_bilinear
from mmdet.registry import MODELS

import mmseqformer  # noqa: F401  (registers the modules, installs the CPU path into mmcv)
from mmseqformer.models.heads import SeqFormerMaskHead
from mmseqformer.models.layers import MultiScaleDeformableEncoder, SeqFormerDecoderLayer
from mmseqformer.models.layers.level_shapes import level_sizes, level_starts, offset_normalizer, shapes_tensor
from mmseqformer.models.layers.ms_deform_attn_cpu import multi_scale_deformable_attn_cpu
from mmseqformer.models.layers.traceable_msda import TraceableMSDeformAttn

DIMS = 32
SHAPES = [(5, 7), (3, 4), (2, 2), (1, 1)]
ATTN = dict(embed_dims=DIMS, num_heads=4, num_levels=2, num_points=2, batch_first=True)
LAYER_CFG = dict(self_attn_cfg=ATTN, ffn_cfg=dict(embed_dims=DIMS, feedforward_channels=64))


def mmdet_level_start_index(spatial_shapes: torch.Tensor) -> torch.Tensor:
    """As mmdet's ``DeformableDETR.pre_transformer``."""
    return torch.cat((spatial_shapes.new_zeros((1,)), spatial_shapes.prod(1).cumsum(0)[:-1]))


def random_ratios(f: int, levels: int, g: torch.Generator) -> torch.Tensor:
    """(f, levels, 2) valid ratios in (0.5, 1]."""
    return 1.0 - 0.5 * torch.rand(f, levels, 2, generator=g)


@pytest.fixture
def mmcv_pytorch_path(monkeypatch):
    """mmcv's own PyTorch sampling inside mmcv's module, so that a reference runs none of this project's code."""
    monkeypatch.setattr(multi_scale_deform_attn, 'multi_scale_deformable_attn_pytorch',
                        multi_scale_deform_attn.mmcv_multi_scale_deformable_attn_pytorch)
    assert multi_scale_deform_attn.multi_scale_deformable_attn_pytorch is not multi_scale_deformable_attn_cpu


# 1. encoder reference points

@pytest.mark.parametrize('ratios', ['ones', 'random'])
def test_encoder_reference_points_bitwise_equal_mmdet(ratios):
    g = torch.Generator().manual_seed(0)
    valid_ratios = torch.ones(3, len(SHAPES), 2) if ratios == 'ones' else random_ratios(3, len(SHAPES), g)
    spatial_shapes = torch.tensor(SHAPES)
    expected = DeformableDetrTransformerEncoder.get_encoder_reference_points(spatial_shapes, valid_ratios,
                                                                             device='cpu')
    ours = MultiScaleDeformableEncoder.reference_points(SHAPES, valid_ratios)
    assert ours.shape == expected.shape == (3, sum(h * w for h, w in SHAPES), len(SHAPES), 2)
    assert ours.dtype == expected.dtype == torch.float32
    assert torch.equal(ours, expected)
    assert torch.equal(MultiScaleDeformableEncoder.reference_points(spatial_shapes, valid_ratios), expected)
    assert torch.equal(MultiScaleDeformableEncoder.reference_points(tuple(SHAPES), valid_ratios), expected)


# 2. CPU sampling

def sampling_inputs(requires_grad: bool = False):
    g = torch.Generator().manual_seed(1)
    num = sum(h * w for h, w in SHAPES)
    value = torch.randn(2, num, 4, 8, generator=g)
    locations = torch.rand(2, 9, 4, len(SHAPES), 3, 2, generator=g) * 1.2 - 0.1  # partly outside [0, 1]
    weights = torch.rand(2, 9, 4, len(SHAPES) * 3, generator=g).softmax(-1).view(2, 9, 4, len(SHAPES), 3)
    return [t.requires_grad_(requires_grad) for t in (value, locations, weights)]


@pytest.mark.parametrize('requires_grad', [False, True])  # in-place / out-of-place accumulation
def test_cpu_sampling_int_pairs_equal_tensor_and_mmcv(requires_grad):
    value, locations, weights = sampling_inputs(requires_grad)
    spatial_shapes = torch.tensor(SHAPES)
    with torch.set_grad_enabled(requires_grad):
        from_tensor = multi_scale_deformable_attn_cpu(value, spatial_shapes, locations, weights)
        from_ints = multi_scale_deformable_attn_cpu(value, SHAPES, locations, weights)
        mmcv_out = multi_scale_deform_attn.mmcv_multi_scale_deformable_attn_pytorch(value, spatial_shapes, locations,
                                                                                   weights)
    assert from_ints.shape == mmcv_out.shape == (2, 9, 32)
    assert torch.equal(from_ints, from_tensor)
    assert torch.allclose(from_ints, mmcv_out, atol=1e-6)


# 3. TraceableMSDeformAttn

def build_attn_pair():
    torch.manual_seed(0)
    reference = MultiScaleDeformableAttention(**ATTN)
    torch.manual_seed(0)
    ours = TraceableMSDeformAttn(**ATTN)
    return reference, ours


def test_traceable_msda_has_mmcv_parameters_and_draws():
    reference, ours = build_attn_pair()
    assert isinstance(ours, MultiScaleDeformableAttention)
    ref_state, our_state = reference.state_dict(), ours.state_dict()
    assert list(our_state) == list(ref_state)
    for key, val in ref_state.items():
        assert torch.equal(our_state[key], val), key  # same init, same random draws


@pytest.mark.parametrize('ref_dims', [2, 4])
@pytest.mark.parametrize('with_mask', [False, True])
@pytest.mark.parametrize('cross', [False, True])
def test_traceable_msda_int_pairs_match_mmcv(mmcv_pytorch_path, ref_dims, with_mask, cross):
    torch.manual_seed(0)
    ours = TraceableMSDeformAttn(**ATTN).eval()
    torch.manual_seed(5)  # other draws than ours: the match comes from the loaded state dict
    reference = MultiScaleDeformableAttention(**ATTN).eval()
    assert not torch.equal(reference.value_proj.weight, ours.value_proj.weight)
    reference.load_state_dict(ours.state_dict(), strict=True)
    shapes = [(6, 5), (3, 3)]
    spatial_shapes = torch.tensor(shapes)
    level_start_index = mmdet_level_start_index(spatial_shapes)
    num = sum(h * w for h, w in shapes)
    g = torch.Generator().manual_seed(2)
    bs, nq = 2, (7 if cross else num)
    query = torch.randn(bs, nq, DIMS, generator=g)
    query_pos = torch.randn(bs, nq, DIMS, generator=g)
    value = torch.randn(bs, num, DIMS, generator=g) if cross else None
    if ref_dims == 2:
        refs = torch.rand(bs, nq, 2, 2, generator=g)
    else:
        refs = torch.cat([torch.rand(bs, nq, 2, 2, generator=g) * 0.8 + 0.1,
                          torch.rand(bs, nq, 2, 2, generator=g) * 0.5 + 0.05], -1)
    mask = torch.rand(bs, num, generator=g) < 0.3 if with_mask else None
    with torch.no_grad():
        expected = reference(query, value=value, query_pos=query_pos, key_padding_mask=mask, reference_points=refs,
                             spatial_shapes=spatial_shapes, level_start_index=level_start_index)
        out = ours(query, value=value, query_pos=query_pos, key_padding_mask=mask, reference_points=refs,
                   spatial_shapes=shapes, level_start_index=level_start_index)
        out_tensor = ours(query, value=value, query_pos=query_pos, key_padding_mask=mask, reference_points=refs,
                          spatial_shapes=spatial_shapes, level_start_index=level_start_index)
    assert out.shape == expected.shape == (bs, nq, DIMS)
    assert torch.equal(out, out_tensor)
    assert torch.allclose(out, expected, atol=1e-6)


# 4. MultiScaleDeformableEncoder

def build_encoder() -> MultiScaleDeformableEncoder:
    torch.manual_seed(0)
    encoder = MODELS.build(dict(type='MultiScaleDeformableEncoder', num_layers=2, layer_cfg=LAYER_CFG,
                                positional_encoding=dict(num_feats=DIMS // 2, normalize=True), num_levels=2))
    assert type(encoder) is MultiScaleDeformableEncoder
    return encoder


def encoder_inputs(padded: bool):
    g = torch.Generator().manual_seed(3)
    feats = (torch.randn(2, DIMS, 8, 12, generator=g), torch.randn(2, DIMS, 4, 6, generator=g))
    if not padded:
        return feats, None
    masks = torch.zeros(2, 32, 48, dtype=torch.bool)
    masks[1, :, 32:] = True  # frame 1: right third and bottom quarter are padding
    masks[1, 24:] = True
    return feats, masks


def test_encoder_layers_keys_and_draws_are_mmdets():
    encoder = build_encoder()
    torch.manual_seed(0)
    plain = DeformableDetrTransformerEncoder(num_layers=2, layer_cfg=LAYER_CFG)
    assert encoder.num_levels == 2 and encoder.embed_dims == DIMS
    assert all(isinstance(layer.self_attn, TraceableMSDeformAttn) for layer in encoder.layers)
    assert len(encoder.layers) == 2
    pe_keys = {f'positional_encoding.{k}' for k in encoder.positional_encoding.state_dict()}
    assert set(encoder.state_dict()) == set(plain.state_dict()) | {'level_embed'} | pe_keys
    ours = encoder.state_dict()
    for key, val in plain.state_dict().items():
        assert torch.equal(ours[key], val), key  # built after the same seed: the same draws
    # Deformable DETR's init (DeformableDETR.init_weights on the encoder's share) after the same seed
    torch.manual_seed(7)
    encoder.init_encoder_weights()
    torch.manual_seed(7)
    for p in plain.parameters():
        if p.dim() > 1:
            torch.nn.init.xavier_uniform_(p)
    for m in plain.modules():
        if isinstance(m, MultiScaleDeformableAttention):
            m.init_weights()
    level_embed = torch.nn.init.normal_(torch.zeros(2, DIMS))
    ours = encoder.state_dict()
    for key, val in plain.state_dict().items():
        assert torch.equal(ours[key], val), key
    assert torch.equal(encoder.level_embed, level_embed)


@pytest.mark.parametrize('padded', [False, True])
def test_encoder_memory_equals_mmdet_encoder(mmcv_pytorch_path, padded):
    encoder = build_encoder()
    encoder.init_encoder_weights()
    encoder.eval()
    feats, masks = encoder_inputs(padded)
    with torch.no_grad():
        out = encoder(feats, masks)
        enc_in = encoder.pre_transformer(feats, masks)
        mmdet_kwargs = dict(query=enc_in['feat'], query_pos=enc_in['feat_pos'], key_padding_mask=enc_in['feat_mask'],
                            spatial_shapes=enc_in['spatial_shapes'], level_start_index=enc_in['level_start_index'],
                            valid_ratios=enc_in['valid_ratios'])
        # mmdet's forward (tensor sizes, get_encoder_reference_points) over these layers
        expected = DeformableDetrTransformerEncoder.forward(encoder, **mmdet_kwargs)
        # a plain mmdet encoder (mmcv's attention and mmcv's PyTorch sampling) carrying the same layer weights
        plain = DeformableDetrTransformerEncoder(num_layers=2, layer_cfg=LAYER_CFG).eval()
        plain.load_state_dict({k: v for k, v in encoder.state_dict().items() if k.startswith('layers.')},
                              strict=True)
        plain_memory = plain(**mmdet_kwargs)
    assert enc_in['spatial_shapes'].dtype == torch.int64
    assert enc_in['spatial_shapes'].tolist() == [[8, 12], [4, 6]] and enc_in['level_shapes'] == ((8, 12), (4, 6))
    assert enc_in['level_start_index'].tolist() == [0, 96]
    assert (enc_in['feat_mask'] is not None) == padded
    if padded:
        assert torch.equal(enc_in['valid_ratios'][1], torch.tensor([[2 / 3, 0.75], [2 / 3, 0.75]]))
    for key in ('feat', 'feat_pos', 'spatial_shapes', 'level_start_index', 'valid_ratios'):
        assert torch.equal(out[key], enc_in[key]), key
    assert out['memory'].shape == (2, 8 * 12 + 4 * 6, DIMS)
    assert torch.allclose(out['memory'], expected, atol=1e-5)
    assert torch.allclose(out['memory'], plain_memory, atol=1e-5)
    for lvl in range(2):
        assert torch.equal(encoder.level_maps(out['memory'], enc_in['level_shapes'], lvl),
                           encoder.level_maps(out['memory'], enc_in['spatial_shapes'], lvl))


# 5. SeqFormerMaskHead

def grouped_conv_masks(head: SeqFormerMaskHead, inst_queries, ref_xy, mask_feats):
    """The pre-export algorithm: instances as the groups of 1x1 convs, frames as the batch."""
    n = inst_queries.shape[0]
    t, _, h, w = mask_feats.shape
    params = head.controller(inst_queries)
    shapes = head.weight_shapes
    chunks = params.split([o * i for o, i in shapes] + [o for o, _ in shapes], dim=1)
    weights = [c.reshape(n * o, i, 1, 1) for c, (o, i) in zip(chunks[:len(shapes)], shapes)]
    biases = [c.reshape(n * o) for c, (o, _) in zip(chunks[len(shapes):], shapes)]
    x = mask_feats[:, None].expand(t, n, -1, h, w)
    if head.rel_coord:
        x = torch.cat([head.relative_coords(ref_xy, (h, w)), x], dim=2)
    x = x.reshape(t, -1, h, w)
    for i, (weight, bias) in enumerate(zip(weights, biases)):
        x = F.conv2d(x, weight, bias, groups=n)
        if i < len(weights) - 1:
            x = F.relu(x)
    return aligned_bilinear(x, 2).transpose(0, 1)


def build_mask_head(rel_coord: bool = True) -> SeqFormerMaskHead:
    torch.manual_seed(0)
    head = SeqFormerMaskHead(embed_dims=DIMS, rel_coord=rel_coord)
    head.init_weights()
    return head.eval()


@pytest.mark.parametrize('rel_coord', [True, False])
@pytest.mark.parametrize('t', [1, 2])
@pytest.mark.parametrize('n', [1, 3])
def test_mask_head_matmul_equals_grouped_conv(n, t, rel_coord):
    head = build_mask_head(rel_coord)
    g = torch.Generator().manual_seed(4)
    queries = torch.randn(n, DIMS, generator=g)
    refs = torch.rand(n, t, 2, generator=g) * torch.tensor([80.0, 48.0])  # pixels of a 48x80 frame
    feats = torch.randn(t, 8, 6, 10, generator=g).relu()
    with torch.no_grad():
        out = head(queries, refs, feats)
        expected = grouped_conv_masks(head, queries, refs, feats)
    assert out.shape == expected.shape == (n, t, 12, 20)
    assert torch.allclose(out, expected, atol=1e-5)


def test_mask_head_without_instances_returns_zeros():
    head = build_mask_head()
    out = head(torch.zeros(0, DIMS), torch.zeros(0, 2, 2), torch.randn(2, 8, 6, 10))
    assert out.shape == (0, 2, 12, 20) and out.dtype == torch.float32


def test_mask_features_int_pairs_equal_tensor():
    head = build_mask_head()
    shapes = [(8, 12), (4, 6), (2, 3), (1, 2)]
    spatial_shapes = torch.tensor(shapes)
    memory = torch.randn(2, sum(h * w for h, w in shapes), DIMS, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        from_ints = head.mask_features(memory, shapes)
        from_tensor = head.mask_features(memory, spatial_shapes)
    assert from_ints.shape == (2, 8, 8, 12)
    assert torch.equal(from_ints, from_tensor)


# 6. SeqFormerDecoderLayer frame chunks

@pytest.mark.parametrize('ref_dims', [2, 4])
def test_decoder_layer_without_chunks_equals_chunks_of_two(ref_dims):
    torch.manual_seed(0)
    c, q, t, levels = DIMS, 6, 5, 2
    layer = SeqFormerDecoderLayer(
        self_attn_cfg=dict(embed_dims=c, num_heads=4, dropout=0.0, batch_first=True),
        cross_attn_cfg=dict(embed_dims=c, num_heads=4, num_levels=levels, num_points=2, batch_first=True),
        ffn_cfg=dict(embed_dims=c, feedforward_channels=64, ffn_drop=0.0), dropout=0.0, infer_frame_chunk=None)
    layer.init_weights()
    layer.eval()
    assert layer.infer_frame_chunk is None
    shapes = [(6, 8), (3, 4)]
    spatial_shapes = torch.tensor(shapes)
    start = mmdet_level_start_index(spatial_shapes)
    g = torch.Generator().manual_seed(8)
    refs = torch.rand(t, q, levels, ref_dims, generator=g) * (0.5 if ref_dims == 4 else 1.0)
    mask = torch.rand(t, 60, generator=g) < 0.2
    args = [torch.randn(1, q, c, generator=g), torch.randn(1, t, q, c, generator=g), torch.randn(1, q, c, generator=g),
            torch.randn(t, 60, c, generator=g), mask, refs]
    calls = []
    handle = layer.cross_attn.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    with torch.no_grad():
        whole = layer(*args, spatial_shapes, start, t)
        whole_ints = layer(*args, shapes, start, t)
        layer.infer_frame_chunk = 2  # chunks of 2, 2 and 1 frames
        chunked = layer(*args, spatial_shapes, start, t)
    handle.remove()
    assert calls == [t, t, 2, 2, 1]
    for a, b, c_ in zip(whole, chunked, whole_ints):
        assert torch.allclose(a, b, atol=1e-6)
        assert torch.equal(a, c_)


# 7. level_shapes helpers

def test_level_shapes_helpers_agree_on_both_forms():
    spatial_shapes = torch.tensor(SHAPES)
    for form in (spatial_shapes, SHAPES, tuple(SHAPES)):
        sizes = level_sizes(form)
        assert sizes == SHAPES and all(type(v) is int for hw in sizes for v in hw)
        assert level_starts(form) == mmdet_level_start_index(spatial_shapes).tolist() == [0, 35, 47, 51]
        for like in (torch.zeros(2, dtype=torch.float32), torch.zeros(2, dtype=torch.float64)):
            normalizer = offset_normalizer(form, like)
            assert normalizer.dtype == like.dtype
            assert torch.equal(normalizer, torch.tensor([[w, h] for h, w in SHAPES], dtype=like.dtype))
            # mmcv's normalizer
            assert torch.equal(normalizer, torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1).to(like))
        tensor = shapes_tensor(form, torch.device('cpu'))
        assert tensor.dtype == torch.int64 and torch.equal(tensor, spatial_shapes)
    assert shapes_tensor(spatial_shapes, torch.device('cpu')) is spatial_shapes
    assert level_starts([]) == [] and level_sizes([]) == []
