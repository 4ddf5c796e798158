"""VisTR's result rule against the official inference.py post-processing stored in the parity cases.

The official post-processing was run on the stored model outputs and on edited outputs that reach its other
branches (a dropped slot, category 0, a frame without segmentation, a vote tie); ours runs on the same outputs.
"""
import pytest
import torch

from mmseqformer.models.vis.vistr_clip import VisTRClip, select_slots, slot_results

from ..conftest import vistr_parity_cases

SLOTS = 10


def _clip_outputs(pred_logits: torch.Tensor, pred_masks: torch.Tensor, num_frames: int):
    """Official frame-major (1, T*P, ...) outputs -> logits (T, P, K + 2), mask logits (P, T, h, w)."""
    logits = pred_logits[0].view(num_frames, SLOTS, -1)
    masks = pred_masks[0].view(num_frames, SLOTS, *pred_masks.shape[-2:]).transpose(0, 1)
    return logits, masks


def _official_view(logits, masks, orig_hw, img_hw):
    """What the official rule reports: kept slots, scores, category ids, None frames and masks at orig size."""
    clip = VisTRClip(logits, masks, torch.zeros(SLOTS, 4), dict(img_shape=img_hw, ori_shape=orig_hw))
    score, category, frame_ok = slot_results(logits)
    out = clip.masks(torch.arange(SLOTS), 0, logits.shape[0], rescale=True)  # (P, T, H, W)
    kept = torch.nonzero(out.flatten(1).any(1)).squeeze(1)
    return clip, kept, score[kept], category[kept], ~frame_ok[kept], out[kept]


@pytest.mark.parametrize('case_path', vistr_parity_cases('case_infer'))
def test_postprocess_equals_official(case_path):
    assert case_path is not None, 'no case_infer*.pt in the VisTR parity folder'
    case = torch.load(case_path, weights_only=True)
    ref = case['postprocess']
    t = case['inputs']['clip'].shape[0]
    logits, masks = _clip_outputs(case['outputs']['pred_logits'], case['outputs']['pred_masks'], t)
    _, kept, scores, categories, none_frames, out = _official_view(logits, masks, tuple(ref['orig_hw']),
                                                                    tuple(case['inputs']['clip'].shape[-2:]))
    assert kept.tolist() == list(ref['kept_slots'])
    assert torch.allclose(scores, ref['scores'].float(), atol=1e-6)
    assert categories.tolist() == ref['category_ids'].tolist()
    assert none_frames.tolist() == ref['frame_is_none'].tolist()
    assert torch.equal(out.to(torch.uint8), ref['masks'] * (~ref['frame_is_none'])[..., None, None])


@pytest.mark.parametrize('case_path', vistr_parity_cases('case_infer'))
def test_postprocess_branches_equal_official(case_path):
    """Dropped slot, category 0, a frame without segmentation and a vote tie, as the official code decides them."""
    assert case_path is not None, 'no case_infer*.pt in the VisTR parity folder'
    case = torch.load(case_path, weights_only=True)
    ref = case['postprocess_branch_test']
    t = case['inputs']['clip'].shape[0]
    logits, masks = _clip_outputs(ref['pred_logits'], ref['pred_masks'], t)
    clip, kept, scores, categories, none_frames, out = _official_view(
        logits, masks, tuple(ref['orig_hw']), tuple(case['inputs']['clip'].shape[-2:]))
    assert kept.tolist() == list(ref['kept_slots'])
    assert torch.allclose(scores, ref['scores'].float(), atol=1e-6)
    assert categories.tolist() == ref['category_ids'].tolist()
    assert none_frames.tolist() == ref['frame_is_none'].tolist()
    assert out.flatten(2).sum(2).tolist() == ref['mask_pixel_counts'].tolist()
    # ours: a slot voting for the "absent" column has no class of ours and is not reported; the others keep their
    # official score at label = official id - 1
    sel_scores, labels, slots = select_slots(clip.scores, max_per_video=SLOTS)
    official = {s: (float(sc), int(c)) for s, sc, c in zip(ref['kept_slots'], ref['scores'], ref['category_ids'])}
    expected = {s for s, (_, c) in official.items() if c > 0}
    assert expected <= set(slots.tolist()) and all(official.get(s, (0, 1))[1] > 0 for s in slots.tolist())
    for score, label, slot in zip(sel_scores.tolist(), labels.tolist(), slots.tolist()):
        if slot in official:
            assert abs(score - official[slot][0]) < 1e-6 and label == official[slot][1] - 1
    assert sel_scores.tolist() == sorted(sel_scores.tolist(), reverse=True)
