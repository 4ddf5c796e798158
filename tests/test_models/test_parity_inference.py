"""Numerical parity of the converted R50 with the official SeqFormer (../shared/parity, README §2, §4-5)."""

import pytest
import torch

LOGIT_TOL, BOX_TOL, MASK_TOL = 1e-3, 1e-4, 5e-3


@pytest.fixture(scope='module')
def outputs(converted_r50, infer_case):
    with torch.no_grad():
        return converted_r50(infer_case['inputs']['clip'][None], None, mode='tensor', with_intermediates=True)


def max_abs(a, b):
    return (a - b).abs().max().item()


def test_tensor_mode_shapes(outputs):
    assert outputs['pred_logits'].shape == (1, 300, 40)
    assert outputs['pred_boxes'].shape == (1, 300, 3, 4)
    assert outputs['pred_masks'].shape == (1, 300, 3, 32, 40)
    assert len(outputs['aux_outputs']) == 5


def test_last_layer_parity(outputs, infer_case):
    ref = infer_case['outputs']
    assert max_abs(outputs['pred_logits'], ref['pred_logits'][..., 1:41]) <= LOGIT_TOL
    assert max_abs(outputs['pred_boxes'], ref['pred_boxes'].permute(0, 2, 1, 3)) <= BOX_TOL
    mine, theirs = outputs['pred_masks'], ref['pred_masks']
    assert max_abs(mine, theirs) <= MASK_TOL
    agree = ((mine > 0) == (theirs > 0)).float().mean().item()
    assert agree >= 0.9999


def test_aux_layer_parity(outputs, infer_case):
    ref = infer_case['outputs']
    for lid, aux in enumerate(outputs['aux_outputs']):
        assert max_abs(aux['pred_logits'], ref['aux_pred_logits'][lid][..., 1:41]) <= LOGIT_TOL, lid
        assert max_abs(aux['pred_boxes'], ref['aux_pred_boxes'][lid].permute(0, 2, 1, 3)) <= BOX_TOL, lid


def test_intermediate_parity(outputs, infer_case):
    """Bisecting aids: backbone, neck, memory, queries, references and mask branch (README §5 tolerances)."""
    ref = infer_case['intermediates']
    inter = outputs['intermediates']
    assert max_abs(inter['mlvl_feats'][0], ref['input_proj_out'][0][0]) <= 5e-3
    assert max_abs(inter['mlvl_feats'][3], ref['input_proj_out'][3][0]) <= 5e-3
    assert torch.equal(inter['spatial_shapes'].cpu(), ref['spatial_shapes'])
    assert max_abs(inter['memory'], ref['memory'][0]) <= 2e-3
    assert max_abs(inter['inst_queries'], ref['hs']) <= 2e-3
    assert max_abs(inter['box_queries'], ref['hs_box']) <= 2e-3
    assert max_abs(inter['references'][0], ref['init_reference']) <= BOX_TOL
    assert max_abs(inter['boxes'], ref['inter_references']) <= BOX_TOL
    assert max_abs(inter['mask_feats'], ref['mask_branch_out'][:, 0]) <= 1e-2


def test_backbone_parity(converted_r50, infer_case):
    ref = infer_case['intermediates']
    with torch.no_grad():
        c3, c4, c5 = converted_r50.backbone(infer_case['inputs']['clip'])
    for mine, key in ((c3, 'backbone_c3'), (c4, 'backbone_c4'), (c5, 'backbone_c5')):
        assert max_abs(mine, ref[key]) <= 5e-3, key


def test_encoder_is_per_frame(converted_r50, infer_case):
    """Frame k's encoder memory is the same alone (T=1) and inside a longer clip (T=6)."""
    clip = infer_case['inputs']['clip']
    clip6 = torch.cat([clip, clip.flip(-1)])  # 6 distinct frames
    with torch.no_grad():
        long = converted_r50(clip6[None], None, mode='tensor', with_intermediates=True)
        for k in (0, 4):
            single = converted_r50(clip6[k][None, None], None, mode='tensor', with_intermediates=True)
            assert max_abs(single['intermediates']['memory'][0], long['intermediates']['memory'][k]) <= 1e-4
            assert single['pred_masks'].shape == (1, 300, 1, 32, 40)
    assert long['pred_boxes'].shape == (1, 300, 6, 4)


@pytest.mark.parametrize('hw', [(100, 150), (150, 100), (90, 122)])
def test_odd_and_portrait_sizes(converted_r50, infer_case, hw):
    """Sizes that are not multiples of 8/32: mask logits are 2*ceil(H/8) x 2*ceil(W/8); the encoder
    still works per frame."""
    h, w = hw
    clip = infer_case['inputs']['clip'][:, :, :h, :w] if h <= 128 and w <= 160 else \
        torch.nn.functional.interpolate(infer_case['inputs']['clip'], size=hw, mode='bilinear')
    with torch.no_grad():
        out = converted_r50(clip[None], None, mode='tensor', with_intermediates=True)
        one = converted_r50(clip[1][None, None], None, mode='tensor', with_intermediates=True)
    assert out['pred_masks'].shape == (1, 300, 3, 2 * -(-h // 8), 2 * -(-w // 8))
    assert max_abs(one['intermediates']['memory'][0], out['intermediates']['memory'][1]) <= 1e-4
    assert torch.isfinite(out['pred_masks']).all()
    assert ((out['pred_boxes'] >= 0) & (out['pred_boxes'] <= 1)).all()
