"""Parity of ``ObjPropHead`` with the official PropHead (ObjProp ba0c1dd) on the ObjProp parity folder: training
(every ``case_prop_train*.pt``: fused features, affinity, propagation, attention, mask logits, both losses, gradients,
BN running stats) and inference propagation (every ``case_prop_infer*.pt``: per (past frame, id) pair), within the
tolerances of its README."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

from ..conftest import objprop_parity_cases


def official_head(module):
    """Our head (40 classes) with the official seeded weights: the background mask channel 0 dropped."""
    from mmseqformer.models.heads import ObjPropHead
    head = ObjPropHead()
    head.init_weights()
    state = module.build_state_dict(osp.dirname(module.__file__), check=True, verbose=False, part='prop_head',
                                    strip_prefix=True)
    state['conv_logits.weight'], state['conv_logits.bias'] = state['conv_logits.weight'][1:], \
        state['conv_logits.bias'][1:]
    head.load_state_dict(state, strict=True)
    return head


def dequant_levels(module, levels, scale):
    return [module.dequant(q, scale) for q in levels]


def train_samples(inputs):
    """Key and reference samples of case A: v1 labels 1..40 -> 0-based, masks pasted top-left at the batch size."""
    pad_hw = tuple(inputs['pad_hw'])
    keys, refs = [], []
    for b in range(len(inputs['gt_bboxes'])):
        masks = inputs['gt_masks'][b].numpy()
        canvas = np.zeros((len(masks), *pad_hw), dtype=np.uint8)
        canvas[:, :masks.shape[1], :masks.shape[2]] = masks
        key = DetDataSample(metainfo=dict(batch_input_shape=pad_hw))
        key.gt_instances = InstanceData(bboxes=inputs['gt_bboxes'][b], labels=inputs['gt_labels'][b] - 1,
                                        instances_ids=torch.tensor(inputs['obj_ids']['cur'][b]),
                                        masks=BitmapMasks(canvas, *pad_hw))
        ref = DetDataSample(metainfo=dict(batch_input_shape=pad_hw))
        ref.gt_instances = InstanceData(bboxes=inputs['ref_bboxes'][b],
                                        instances_ids=torch.tensor(inputs['obj_ids']['ref'][b]))
        keys.append(key)
        refs.append(ref)
    return keys, refs


@pytest.mark.parametrize('case_path', objprop_parity_cases('case_prop_train'), ids=lambda p: osp.basename(str(p)))
def test_prop_head_training_matches_official(case_path, official_objprop_module):
    assert case_path is not None, 'no case_prop_train*.pt in the ObjProp parity folder'
    case = torch.load(case_path, weights_only=True)
    inputs, inter = case['inputs'], case['intermediates']
    x = dequant_levels(official_objprop_module, inputs['x_q'], inputs['input_scale'])
    ref_x = dequant_levels(official_objprop_module, inputs['ref_x_q'], inputs['input_scale'])
    for level in x + ref_x:
        level.requires_grad_(True)
    head = official_head(official_objprop_module).train()
    keys, refs = train_samples(inputs)
    with torch.no_grad():
        fused = head.fuse(x)
        torch.testing.assert_close(fused, inter['fused_key'], atol=2e-5, rtol=0)
        affinity = head.affinity(head.fuse(ref_x)[:1], fused[:1])
        torch.testing.assert_close(affinity, inter['affinity'], atol=1e-4, rtol=0)
    head = official_head(official_objprop_module).train()  # fresh BN running stats for the loss pass
    losses = head.loss(x, ref_x, keys, refs)
    torch.testing.assert_close(losses['loss_propattn'], case['losses']['loss_propattn'], atol=1e-5, rtol=0)
    torch.testing.assert_close(losses['loss_propmask'], case['losses']['loss_propmask'][0], atol=1e-5, rtol=0)
    assert abs(losses['attn_propacc'].item() - case['losses']['attn_propacc'].item()) < 0.002
    for name in ('running_mean', 'running_var', 'num_batches_tracked'):
        for index in (1, 4):
            want = case['bn_after'][f'prop_head.convs.{index}.{name}']
            torch.testing.assert_close(getattr(head.convs[index], name), want, atol=1e-5, rtol=0)
    (losses['loss_propattn'] + losses['loss_propmask']).backward()
    check_gradients(head, case, x, ref_x)


def check_gradients(head, case, x, ref_x):
    """Gradient norms of every parameter (1e-4 relative; the two biases before a train-mode BN are 0 up to noise)
    and of every input level."""
    for name, param in head.named_parameters():
        official = f'prop_head.{name}'
        if name in ('convs.0.bias', 'convs.3.bias'):
            assert param.grad.abs().max() < 1e-6
            continue
        grad = param.grad
        if official in case['small_grads']:  # 1-D: the whole gradient (conv_logits without the background's)
            want_full = case['small_grads'][official]
            want_full = want_full[1:] if name.startswith('conv_logits') else want_full
            torch.testing.assert_close(grad, want_full, atol=1e-6 + 1e-4 * want_full.abs().max().item(), rtol=0)
        want = case['grads'][official]['norm']
        assert abs(grad.double().norm().item() - float(want)) <= 1e-4 * float(want) + 1e-9, name
    for levels, key in ((x, 'x'), (ref_x, 'ref_x')):
        for level, want in zip(levels, case['input_grads'][key]):
            want_norm = float(want['norm'])
            assert abs(level.grad.double().norm().item() - want_norm) <= 1e-4 * want_norm + 1e-9, key


@pytest.mark.parametrize('case_path', objprop_parity_cases('case_prop_train'), ids=lambda p: osp.basename(str(p)))
def test_prop_head_training_intermediates_match_official(case_path, official_objprop_module):
    """Rows (image, reference box): stride-8 rasters, [bg, fg], attention at both resolutions, mask logits."""
    from mmseqformer.models.utils.box_raster import rasterise_boxes
    assert case_path is not None, 'no case_prop_train*.pt in the ObjProp parity folder'
    case = torch.load(case_path, weights_only=True)
    inputs, inter = case['inputs'], case['intermediates']
    x = dequant_levels(official_objprop_module, inputs['x_q'], inputs['input_scale'])
    ref_x = dequant_levels(official_objprop_module, inputs['ref_x_q'], inputs['input_scale'])
    head = official_head(official_objprop_module).train()
    with torch.no_grad():
        fused, fused_ref = head.fuse(x), head.fuse(ref_x)
        torch.testing.assert_close(fused_ref.double().sum(dim=(2, 3)), inter['fused_ref_channel_sum'], atol=2e-3,
                                   rtol=0)
        bg_fg, images = [], []
        for b, boxes in enumerate(inputs['ref_bboxes']):
            grids = rasterise_boxes(boxes, fused.shape[-2:], stride=8)
            assert torch.equal(grids, inter['ref_box_grid'][b, :len(boxes)])
            assert not inter['ref_box_grid'][b, len(boxes):].any()
            affinity = head.affinity(fused_ref[b:b + 1], fused[b:b + 1])
            torch.testing.assert_close(affinity.max(dim=1).values[0], inter['affinity_col_max'][b], atol=1e-4, rtol=0)
            torch.testing.assert_close(affinity.sum(dim=2)[0], inter['affinity_row_sum'][b], atol=1e-3, rtol=0)
            rows = head.propagate(grids, affinity[0])
            torch.testing.assert_close(rows[:, 0], inter['bg_s8'][b, :len(boxes)], atol=5e-5, rtol=0)
            torch.testing.assert_close(rows[:, 1], inter['fg_s8'][b, :len(boxes)], atol=5e-5, rtol=0)
            bg_fg.append(rows)
            images += [b] * len(boxes)
        full, attn = head.attention(torch.cat(bg_fg), tuple(inputs['pad_hw']))
        torch.testing.assert_close(full.softmax(dim=1)[:, 1], inter['prop_attn'], atol=2e-5, rtol=0)
        torch.testing.assert_close(attn, inter['prop_attn_s8'], atol=2e-5, rtol=0)
        logits = head.mask_logits(fused[images], attn)
        torch.testing.assert_close(logits, inter['mask_logits_s4'][:, 1:], atol=3e-4, rtol=0)


def infer_case(path, module):
    """Case B: fused frames (eval BN), the 4 (past frame, id) pairs' boxes in current input pixels and labels."""
    case = torch.load(path, weights_only=True)
    inputs = case['inputs']
    head = official_head(module).eval()
    with torch.no_grad():
        fused = [head.fuse(dequant_levels(module, levels, inputs['input_scale'])) for levels in inputs['frames_x_q']]
    scale = inputs['img_meta']['scale_factor']
    pairs = [(t, i) for t in (0, 1) for i in range(len(inputs['dets'][t]['obj_ids']))]
    boxes = torch.stack([inputs['dets'][t]['bboxes'][i] * scale for t, i in pairs])
    labels = torch.stack([inputs['dets'][t]['labels'][i] for t, i in pairs])
    return case, head, fused, torch.tensor([t for t, _ in pairs]), boxes, labels


@pytest.mark.parametrize('case_path', objprop_parity_cases('case_prop_infer'), ids=lambda p: osp.basename(str(p)))
def test_prop_head_inference_matches_official(case_path, official_objprop_module):
    """Frame 2 from frames 0 and 1: features, affinity, spatial prior, [bg, fg], attention, logits, sigmoid maps,
    the mean over past frames and the 0.3 mask of the missed id 1."""
    from mmseqformer.models.utils.box_raster import gaussian_cell_prior, rasterise_boxes
    assert case_path is not None, 'no case_prop_infer*.pt in the ObjProp parity folder'
    case, head, fused, past_index, boxes, labels = infer_case(case_path, official_objprop_module)
    inter, pad_hw = case['intermediates'], tuple(case['inputs']['img_meta']['pad_shape'][:2])
    assert labels.tolist() == (inter['pair_label_channel'] - 1).tolist()
    with torch.no_grad():
        torch.testing.assert_close(fused[2], inter['x_feats_frame2'], atol=2e-5, rtol=0)
        torch.testing.assert_close(torch.stack([f.double().sum() for f in fused]), inter['x_feats_frames_sum'],
                                   atol=1e-2, rtol=0)
        torch.testing.assert_close(head.affinity(fused[0], fused[2])[0], inter['affinity_f2_from_f0'], atol=1e-4,
                                   rtol=0)
        prior = gaussian_cell_prior(fused[2].shape[-2:], head.sigma, fused[2].device)
        torch.testing.assert_close(prior[0], inter['spatial_weight_row0'], atol=1e-6, rtol=0)
        grids = rasterise_boxes(boxes, fused[2].shape[-2:], stride=8)
        assert torch.equal(torch.stack([1 - grids, grids], dim=1), inter['ref_grid'])
        past = torch.cat(fused[:2])
        affinity = head.affinity(past, fused[2].expand(2, -1, -1, -1)) * prior
        bg_fg = torch.cat([head.propagate(grids[i:i + 1], affinity[p]) for i, p in enumerate(past_index.tolist())])
        torch.testing.assert_close(bg_fg, inter['prediction_s8'], atol=5e-5, rtol=0)
        _, attn = head.attention(bg_fg, pad_hw)
        torch.testing.assert_close(attn[:, 0], inter['prop_attn_s8'], atol=2e-5, rtol=0)
        logits = head.mask_logits(fused[2].expand(4, -1, -1, -1), attn)[torch.arange(4), labels]
        torch.testing.assert_close(logits, inter['mask_logits_s4_label'], atol=3e-4, rtol=0)
        probs = head.predict(fused[2], fused[:2], past_index, boxes, labels, pad_hw)
    torch.testing.assert_close(probs, inter['pred_sigmoid'], atol=5e-5, rtol=0)
    mean_id1 = probs[[1, 3]].mean(dim=0)
    torch.testing.assert_close(mean_id1, inter['mean_sigmoid_id1'], atol=5e-5, rtol=0)
    assert torch.equal((mean_id1 >= 0.3).to(torch.uint8), case['outputs']['prop_mask_id1'])


def test_every_case_file_is_of_a_checked_kind():
    """A case dropped into the folder is checked by one of the parity tests (by its prefix), never ignored."""
    import glob

    from ..conftest import objprop_parity_dir
    cases = sorted(osp.basename(p) for p in glob.glob(osp.join(objprop_parity_dir(), 'case_*.pt')))
    assert cases, f'no case_*.pt in {objprop_parity_dir()}'
    kinds = ('case_prop_train', 'case_prop_infer', 'case_attn_neck')
    assert [c for c in cases if not c.startswith(kinds)] == []
    assert all(any(c.startswith(k) for c in cases) for k in kinds)
