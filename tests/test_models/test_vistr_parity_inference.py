"""Numerical parity of VisTR R50 with the official model on every ``case_infer*`` of the VisTR parity folder.

The official-format seeded weights are converted with the official -> mmseqformer converter and loaded strictly;
tolerances are the README's (section 5), and 10x tighter where a stage is fed the stored official inputs.
Both DCN options (mmcv's kernel and the grid_sample reference) are checked. A folder without a case fails.
"""
import os.path as osp
from typing import Dict, Optional

import pytest
import torch

from mmseqformer.models.utils import vistr_converter

from ..conftest import REPO, vistr_parity_cases, vistr_parity_dir
from .conftest import build_model

VISTR_BASE = osp.join(REPO, 'configs', '_base_', 'models', 'vistr_r50.py')
CASES = vistr_parity_cases('case_infer')
CASE_IDS = [osp.basename(p) if p else 'missing' for p in CASES]
DCN_OPTIONS = ('mmcv', 'pytorch')
# README section 5, end to end
LOGIT_TOL, BOX_TOL, MASK_TOL, MASK_SIGN_AGREEMENT = 1e-3, 2e-4, 1e-2, 0.999
HS_TOL = MEMORY_TOL = 2e-3
BACKBONE_TOL, FRAME_FEAT_TOL = 1e-3, 5e-3


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.float() - b.float()).abs().max().item()


def load_case(path: Optional[str]) -> dict:
    if path is None:
        pytest.fail(f'no case_infer*.pt in {vistr_parity_dir()} (set MMSEQFORMER_PARITY_VISTR_DIR)')
    return torch.load(path, weights_only=True)


class ParityRuns:
    """Converted models (per DCN option and clip layout) and their outputs per case, computed once."""

    def __init__(self, official_state_dict: Dict[str, torch.Tensor]) -> None:
        self.converted = vistr_converter.convert_official_state_dict(official_state_dict, 'vistr')[0]
        self.models, self.outputs = {}, {}

    def model(self, dcn: str, num_frames: int, queries_per_frame: int) -> torch.nn.Module:
        key = (dcn, num_frames, queries_per_frame)
        if key not in self.models:
            rows = self.converted['query_embedding.weight'].shape[0]
            if rows != num_frames * queries_per_frame:
                pytest.fail(f'the parity weights have {rows} queries; the case needs {num_frames} x '
                            f'{queries_per_frame}')
            model = build_model(VISTR_BASE, num_frames=num_frames, queries_per_frame=queries_per_frame,
                                mask_head=dict(deform_conv=dcn))
            model.load_state_dict(self.converted, strict=True)
            self.models[key] = model.eval()
        return self.models[key]

    def run(self, path: str, dcn: str) -> dict:
        """Outputs and intermediates (ours, batch 1) of a case; frame-0 mask-head internals through hooks."""
        if (path, dcn) in self.outputs:
            return self.outputs[(path, dcn)]
        case = load_case(path)
        clip, pad = case['inputs']['clip'], case['inputs']['pad_mask']
        model = self.model(dcn, clip.shape[0], case['config']['num_ins_per_frame'])
        head = model.mask_head
        captured = {}

        def first(name, fn):
            def hook(module, args, output):  # returns None: the module's output is kept
                captured.setdefault(name, fn(args, output))
            return hook

        # the stored mask_head_lay2_out_f0 is lay2's conv output (before GN and ReLU, whatever its meta says)
        hooks = [head.lay2.register_forward_hook(first('lay2_out', lambda a, o: o)),
                 head.conv_offset.register_forward_hook(first('dcn_input', lambda a, o: a[0])),
                 head.conv_offset.register_forward_hook(first('dcn_offset', lambda a, o: o)),
                 head.dcn.register_forward_hook(first('dcn_output', lambda a, o: o))]
        try:
            with torch.no_grad():
                if pad.any():  # padded frames: the per-frame masks go straight to encode
                    enc = model.encode(clip, pad)
                    dec = model.decode(enc, clip.shape[0], with_intermediates=True)
                    out = dict(pred_logits=dec['logits'][-1], pred_boxes=dec['boxes'][-1], pred_masks=dec['masks'],
                               aux_logits=dec['logits'][:-1], aux_boxes=dec['boxes'][:-1], inter=dict(enc, **dec))
                else:
                    res = model(clip[None], None, mode='tensor', with_intermediates=True)
                    out = dict(pred_logits=res['pred_logits'], pred_boxes=res['pred_boxes'],
                               pred_masks=res['pred_masks'],
                               aux_logits=torch.stack([a['pred_logits'] for a in res['aux_outputs']]),
                               aux_boxes=torch.stack([a['pred_boxes'] for a in res['aux_outputs']]),
                               inter=res['intermediates'])
        finally:
            for hook in hooks:
                hook.remove()
        out.update(captured, case=case, model=model)
        self.outputs[(path, dcn)] = out
        return out


@pytest.fixture(scope='module')
def runs(official_vistr_state_dict) -> ParityRuns:
    return ParityRuns(official_vistr_state_dict)


@pytest.mark.parametrize('dcn', DCN_OPTIONS)
@pytest.mark.parametrize('path', CASES, ids=CASE_IDS)
def test_outputs_parity(runs, path, dcn):
    out = runs.run(path, dcn)
    ref = out['case']['outputs']
    assert max_abs(out['pred_logits'], ref['pred_logits']) <= LOGIT_TOL
    assert max_abs(out['pred_boxes'], ref['pred_boxes']) <= BOX_TOL
    assert max_abs(out['aux_logits'], ref['aux_pred_logits']) <= LOGIT_TOL
    assert max_abs(out['aux_boxes'], ref['aux_pred_boxes']) <= BOX_TOL
    assert max_abs(out['pred_masks'], ref['pred_masks']) <= MASK_TOL
    agree = ((out['pred_masks'] > 0) == (ref['pred_masks'] > 0)).float().mean().item()
    assert agree >= MASK_SIGN_AGREEMENT


@pytest.mark.parametrize('dcn', DCN_OPTIONS)
@pytest.mark.parametrize('path', CASES, ids=CASE_IDS)
def test_intermediates_parity(runs, path, dcn):
    """Bisecting aids in pipeline order: backbone, pos/mask/input_proj, memory, hs, attention maps, mask head."""
    out = runs.run(path, dcn)
    ref, inter = out['case']['intermediates'], out['inter']
    t, c = ref['input_proj_out'].shape[:2]
    for level in ('c2', 'c3', 'c4'):
        assert max_abs(inter[level][0], ref[f'backbone_{level}_f0']) <= BACKBONE_TOL, level
    assert max_abs(inter['c5'], ref['backbone_c5']) <= BACKBONE_TOL
    assert max_abs(inter['pos'], ref['pos_c5'].permute(0, 1, 3, 4, 2).reshape(1, -1, c)) <= 1e-5
    mask_c5 = inter['mask_c5'] if inter['mask_c5'] is not None else torch.zeros_like(ref['mask_c5'])
    assert torch.equal(mask_c5, ref['mask_c5'])
    assert max_abs(inter['src'], ref['input_proj_out']) <= BACKBONE_TOL
    # official memory layout (bs, c, T, h*w); ours (bs, T*h*w, c) in token order (t, y, x)
    assert max_abs(inter['memory'], ref['memory'].permute(0, 2, 3, 1).reshape(1, -1, c)) <= MEMORY_TOL
    assert max_abs(inter['hs'], ref['hs']) <= HS_TOL
    assert max_abs(inter['bbox_attention'][0], ref['bbox_attention']) <= 1e-3
    assert max_abs(out['lay2_out'], ref['mask_head_lay2_out_f0']) <= FRAME_FEAT_TOL
    assert max_abs(out['dcn_input'], ref['dcn_input_f0']) <= FRAME_FEAT_TOL
    assert max_abs(out['dcn_offset'], ref['dcn_offset_f0']) <= FRAME_FEAT_TOL
    assert max_abs(out['dcn_output'], ref['dcn_output_f0']) <= FRAME_FEAT_TOL
    assert max_abs(inter['frame_mask_features'][0], ref['frame_mask_features']) <= FRAME_FEAT_TOL
    assert inter['frame_mask_features'].shape[1] == t


@pytest.mark.parametrize('path', CASES, ids=CASE_IDS)
def test_stages_fed_official_inputs(runs, path):
    """Each stage on the stored official inputs of that stage, within 10x tighter tolerances (README section 5)."""
    out = runs.run(path, 'mmcv')
    model, case = out['model'], out['case']
    ref = case['intermediates']
    t, c, h, w = ref['input_proj_out'].shape
    p = case['config']['num_ins_per_frame']
    pad = case['inputs']['pad_mask']
    mask_c5 = ref['mask_c5'][None] if pad.any() else None
    with torch.no_grad():
        assert max_abs(model.input_proj(ref['backbone_c5']), ref['input_proj_out']) <= BACKBONE_TOL / 10
        tr = model.transformer(ref['input_proj_out'][None], mask_c5)
        assert max_abs(tr['memory'], ref['memory'].permute(0, 2, 3, 1).reshape(1, -1, c)) <= MEMORY_TOL / 10
        assert max_abs(tr['hs'], ref['hs']) <= HS_TOL / 10
        logits, boxes = model.track_head(ref['hs'])
        assert max_abs(logits[-1], case['outputs']['pred_logits']) <= LOGIT_TOL / 10
        assert max_abs(boxes[-1], case['outputs']['pred_boxes']) <= BOX_TOL / 10
        # mask path of frame 0 on the official memory, queries and raw backbone features
        memory0 = ref['memory'][0, :, 0].view(c, h, w)
        feats0, attn0 = model.mask_head.frame_features(
            ref['hs'][-1, 0, :p], memory0, (ref['backbone_c4_f0'], ref['backbone_c3_f0'], ref['backbone_c2_f0']),
            ref['mask_c5'][0] if pad.any() else None)
        assert max_abs(attn0, ref['bbox_attention'][0]) <= 1e-4
        assert max_abs(feats0, ref['frame_mask_features'][0]) <= FRAME_FEAT_TOL / 10
        # 3D instance head on the official per-frame features; frame-major like the official pred_masks
        masks = model.mask_head.instance_masks(ref['frame_mask_features']).transpose(0, 1).flatten(0, 1)
        assert max_abs(masks, case['outputs']['pred_masks'][0]) <= MASK_TOL / 10
