"""Parity of ``InterFrameAttnNeck`` with the official AttnNeck (ObjProp follow-up, NeckAttn 57b3a23): every
``case_attn_neck*.pt`` of the ObjProp parity folder, outputs at each stored gamma and the intermediates, within the
tolerances of its README (corr 1e-4, neck outputs 2e-4)."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from ..conftest import objprop_parity_cases


def official_neck(module):
    """Our neck with the official seeded weights (same parameter names: gamma, conv1, conv2)."""
    from mmseqformer.models.layers import InterFrameAttnNeck
    neck = InterFrameAttnNeck(256)
    neck.init_weights()
    state = module.build_state_dict(osp.dirname(module.__file__), check=True, verbose=False, part='neck_attn',
                                    strip_prefix=True)
    neck.load_state_dict(state, strict=True)
    return neck.eval()


@pytest.mark.parametrize('case_path', objprop_parity_cases('case_attn_neck'), ids=lambda p: osp.basename(str(p)))
def test_attn_neck_matches_official(case_path, official_objprop_module):
    assert case_path is not None, 'no case_attn_neck*.pt in the ObjProp parity folder'
    case = torch.load(case_path, weights_only=True)
    dequant = official_objprop_module.dequant
    scale = case['inputs'].get('input_scale')
    x = [dequant(q) if scale is None else dequant(q, scale) for q in case['inputs']['x_q']]
    ref_x = [dequant(q) if scale is None else dequant(q, scale) for q in case['inputs']['ref_x_q']]
    neck = official_neck(official_objprop_module)
    inter = case['intermediates']
    with torch.no_grad():
        for level, (cur, ref) in enumerate(zip(x, ref_x)):
            torch.testing.assert_close(neck.correlation(cur, ref), inter['corr'][level], atol=1e-4, rtol=0)
        for i, level in enumerate(inter['small_levels']):  # the stored conv outputs are after their ReLU
            torch.testing.assert_close(F.relu(neck.conv1(x[level])), inter['conv1_key'][i], atol=2e-5, rtol=0)
            torch.testing.assert_close(F.relu(neck.conv1(ref_x[level])), inter['conv1_ref'][i], atol=2e-5, rtol=0)
            torch.testing.assert_close(F.relu(neck.conv2(x[level])), inter['conv2_key'][i], atol=2e-5, rtol=0)
            torch.testing.assert_close(neck.attention(x[level], ref_x[level]), inter['A'][i], atol=2e-4, rtol=0)
        outputs = [(name, levels) for name, levels in case['outputs'].items() if name.startswith('gamma_')]
        assert outputs, 'the case holds no gamma_<value> outputs'
        for name, levels in outputs:
            neck.gamma.fill_(float(name[len('gamma_'):]))
            got = neck(x, ref_x)
            assert len(got) == len(levels) == 5
            for out, want in zip(got, levels):
                assert out.shape == want.shape
                torch.testing.assert_close(out, want, atol=2e-4, rtol=0)


def test_neck_starts_at_gamma_half_with_xavier_convs():
    from mmseqformer.models.layers import InterFrameAttnNeck
    torch.manual_seed(0)
    neck = InterFrameAttnNeck(16)
    neck.init_weights()
    assert neck.gamma.item() == 0.5
    for conv in (neck.conv1, neck.conv2):
        bound = (6 / (16 * 9 + 16 * 9)) ** 0.5  # xavier_uniform, gain 1
        assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
        assert torch.equal(conv.bias, torch.zeros(16))
    with pytest.raises(ValueError, match='2 current levels but 1 reference'):
        neck([torch.zeros(1, 16, 4, 4)] * 2, [torch.zeros(1, 16, 4, 4)])
