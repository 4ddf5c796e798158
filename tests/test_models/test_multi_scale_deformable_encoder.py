"""MultiScaleDeformableEncoder: the shared encoder stage, and SeqFormer's checkpoint key for its level embeddings."""
import pytest
import torch
from mmdet.registry import MODELS

from .conftest import tiny_model

DIMS = 32


def build_encoder(num_levels: int = 3) -> torch.nn.Module:
    import mmseqformer  # noqa: F401

    attn = dict(embed_dims=DIMS, num_heads=4, num_levels=num_levels, num_points=2, batch_first=True)
    torch.manual_seed(0)
    encoder = MODELS.build(dict(
        type='MultiScaleDeformableEncoder', num_layers=2, num_levels=num_levels,
        positional_encoding=dict(num_feats=DIMS // 2, normalize=True, offset=-0.5),
        layer_cfg=dict(self_attn_cfg=attn, ffn_cfg=dict(embed_dims=DIMS, feedforward_channels=64))))
    encoder.init_encoder_weights()
    return encoder.eval()


def levels(f: int, sizes=((16, 24), (8, 12), (4, 6)), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(f, DIMS, h, w, generator=g) for h, w in sizes)


def test_outputs_and_layout():
    encoder = build_encoder()
    feats = levels(2)
    masks = torch.zeros(2, 64, 96, dtype=torch.bool)
    masks[1, :, 48:] = True  # frame 1: right half is padding
    with torch.no_grad():
        out = encoder(feats, masks)
    s = 16 * 24 + 8 * 12 + 4 * 6
    assert out['memory'].shape == out['feat'].shape == out['feat_pos'].shape == (2, s, DIMS)
    assert out['spatial_shapes'].tolist() == [[16, 24], [8, 12], [4, 6]]
    assert out['level_start_index'].tolist() == [0, 384, 480]
    assert torch.allclose(out['valid_ratios'][0], torch.ones(3, 2))
    assert torch.allclose(out['valid_ratios'][1], torch.tensor([[0.5, 1.0]] * 3))
    assert out['feat_mask'].shape == (2, s) and not out['feat_mask'][0].any()
    level1 = out['feat_mask'][1, 384:480].view(8, 12)
    assert not level1[:, :6].any() and level1[:, 6:].all()
    with torch.no_grad():
        no_mask = encoder(feats, None)
    assert no_mask['feat_mask'] is None and torch.equal(no_mask['valid_ratios'], torch.ones(2, 3, 2))
    shapes = no_mask['spatial_shapes']
    for lvl, feat in enumerate(feats):
        assert torch.equal(encoder.level_maps(no_mask['feat'], shapes, lvl), feat)
        # positions: the per-frame sine encoding plus the level's embedding
        pos = encoder.level_maps(no_mask['feat_pos'], shapes, lvl)
        expected = encoder.positional_encoding(None, input=feat) + encoder.level_embed[lvl].view(1, -1, 1, 1)
        assert torch.allclose(pos, expected, atol=1e-6)


def test_frames_are_encoded_independently():
    encoder = build_encoder()
    feats = levels(3)
    with torch.no_grad():
        together = encoder(feats)['memory']
        alone = encoder(tuple(f[1:2] for f in feats))['memory']
    assert torch.allclose(together[1:2], alone, atol=1e-5)


def test_level_count_must_match():
    with pytest.raises(ValueError, match='has 3 levels, got 2'):
        build_encoder()(levels(1)[:2])


def test_seqformer_keeps_the_level_embed_checkpoint_key():
    """Checkpoints (ours, converted official ones) store ``level_embed``; it stays the key on save and load."""
    model = tiny_model()
    state = model.state_dict()
    assert 'level_embed' in state and 'encoder.level_embed' not in state
    assert torch.equal(state['level_embed'], model.encoder.level_embed)
    assert 'encoder.level_embed' in dict(model.named_parameters())
    other = tiny_model()
    with torch.no_grad():
        other.encoder.level_embed.zero_()
    assert other.load_state_dict(state, strict=True)  # no missing / unexpected keys
    assert torch.equal(other.encoder.level_embed, model.encoder.level_embed)
    # a state dict under a prefix (a wrapped model) maps the same way
    wrapper = torch.nn.ModuleDict(dict(module=other))
    wrapped = wrapper.state_dict()
    assert 'module.level_embed' in wrapped and 'module.encoder.level_embed' not in wrapped
    wrapper.load_state_dict(wrapped, strict=True)
