"""VisTR's sequence Hungarian matcher: match costs, the VisTR#80 valid-index option, official parity per layer."""
import math

import pytest
import torch
from mmengine.structures import InstanceData

from ..conftest import vistr_parity_cases

COSTS = [dict(type='SequenceSoftmaxClassCost', weight=1.0), dict(type='SequenceBBoxL1Cost', weight=5.0),
         dict(type='SequenceIoUCost', weight=2.0)]


def build(cfg):
    from mmdet.registry import TASK_UTILS

    import mmseqformer.models  # noqa: F401
    return TASK_UTILS.build(cfg)


def assigner(fix_valid_index=False, match_costs=COSTS):
    return build(dict(type='SequenceHungarianAssigner', fix_valid_index=fix_valid_index, match_costs=match_costs))


def load_loss_case(case_path):
    if case_path is None:
        pytest.fail('no case_loss*.pt in the VisTR parity folder (set MMSEQFORMER_PARITY_VISTR_DIR)')
    return torch.load(case_path, weights_only=True)


def official_targets(case) -> list:
    """The case's official target dicts (instance-major rows n*T+t) -> (n, T) InstanceData per video."""
    t = case['config']['num_frames']
    out = []
    for tgt in case['targets']:
        n = len(tgt['labels']) // t
        out.append(InstanceData(labels=tgt['labels'].view(n, t), bboxes=tgt['boxes'].view(n, t, 4),
                                valid=tgt['valid'].view(n, t).bool(),
                                masks=tgt['masks'].view(n, t, *tgt['masks'].shape[-2:])))
    return out


def all_layers(case):
    """(L, N, Q, C) logits and (L, N, Q, 4) boxes: decoder layers 0..L-1, the last one last."""
    out = case['outputs']
    return (torch.cat([out['aux_pred_logits'], out['pred_logits'][None]]),
            torch.cat([out['aux_pred_boxes'], out['pred_boxes'][None]]))


def slot_sequences(logits, boxes, num_frames):
    """Frame-major (Q, C), (Q, 4) of one video -> the slots' InstanceData (P, T, C), (P, T, 4)."""
    slots = logits.shape[0] // num_frames
    return InstanceData(scores=logits.view(num_frames, slots, -1).transpose(0, 1),
                        bboxes=boxes.view(num_frames, slots, 4).transpose(0, 1))


def pairs(result):
    queries = torch.nonzero(result.gt_inds > 0).flatten()
    return set(zip(queries.tolist(), (result.gt_inds[queries] - 1).tolist()))


# -- costs --------------------------------------------------------------------------------------


def test_class_cost_is_minus_frame_mean_of_softmax_prob_incl_absent_label():
    probs = torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]],
                          [[0.2, 0.2, 0.6], [0.7, 0.2, 0.1]]])  # (P=2, T=2, C=3)
    pred = InstanceData(scores=probs.log() + 3.0, bboxes=torch.zeros(2, 2, 4))  # softmax is shift-invariant
    gt = InstanceData(labels=torch.tensor([[1, 1], [2, 0]]))  # gt 1 absent in frame 1 (label 0)
    cost = build(dict(type='SequenceSoftmaxClassCost', weight=2.0))(pred, gt)
    expected = -2.0 * torch.tensor([[(0.3 + 0.6) / 2, (0.2 + 0.1) / 2], [(0.2 + 0.2) / 2, (0.6 + 0.7) / 2]])
    torch.testing.assert_close(cost, expected)


def test_box_l1_cost_is_mean_over_frames_and_coordinates():
    pred = InstanceData(bboxes=torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 0.2, 0.2]]]))  # (1, 2, 4)
    gt = InstanceData(bboxes=torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.0, 0.0, 0.0, 0.0]]]))  # absent: zero box
    cost = build(dict(type='SequenceBBoxL1Cost', weight=5.0))(pred, gt)
    torch.testing.assert_close(cost, torch.tensor([[5.0 * (0 + 1.4) / 8]]))


def test_iou_cost_is_plain_smoothed_iou_not_giou():
    box = [0.5, 0.5, 0.2, 0.2]
    pred = InstanceData(bboxes=torch.tensor([[box, box, box, [0.0, 0.0, 0.0, 0.0]]]))  # (1, T=4, 4)
    gt = InstanceData(bboxes=torch.tensor([[box, [0.6, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1],
                                            [0.0, 0.0, 0.0, 0.0]]]))
    cost = build(dict(type='SequenceIoUCost', weight=1.0))(pred, gt)
    # identical: 1; half-shifted: 0.02 / 0.06 = 1/3; disjoint: eps / (0.05 + eps) (GIoU would be negative);
    # two zero boxes: eps / eps = 1
    disjoint = 1e-6 / (0.04 + 0.01 + 1e-6)
    expected = -(1 + 1 / 3 + disjoint + 1) / 4
    assert math.isclose(cost.item(), expected, rel_tol=1e-5)


# -- assigner -----------------------------------------------------------------------------------


def bug_example():
    """P=3 slots, T=2: gt 0 absent in frame 1, gt 1 present; slot 0 copies gt 1's boxes, slot 1 gt 0's."""
    g0 = [[0.3, 0.3, 0.2, 0.2], [0.0, 0.0, 0.0, 0.0]]
    g1 = [[0.7, 0.7, 0.2, 0.2], [0.7, 0.6, 0.2, 0.2]]
    far = [[0.9, 0.1, 0.05, 0.05]] * 2
    pred = InstanceData(scores=torch.zeros(3, 2, 5), bboxes=torch.tensor([g1, g0, far]))
    gt = InstanceData(labels=torch.tensor([[3, 0], [4, 4]]), bboxes=torch.tensor([g0, g1]),
                      valid=torch.tensor([[True, False], [True, True]]))
    return pred, gt


@pytest.mark.parametrize('fix, expected', [
    # official: row 0 (slot 0 -> gt 1) takes gt 0's frames, row 1 (slot 1 -> gt 0) takes gt 1's: the absent
    # frame of gt 0 (row 1, label 0) is paired and gt 1's frame 1 is dropped
    (False, {(0, 2): 4, (1, 0): 3, (4, 1): 0}),
    (True, {(0, 2): 4, (3, 3): 4, (1, 0): 3}),
])
def test_valid_index_option(fix, expected):
    pred, gt = bug_example()
    result = assigner(fix, [dict(type='SequenceBBoxL1Cost')]).assign(pred, gt)
    assert result.num_gts == 4
    assert result.get_extra_property('slot_inds').tolist() == [0, 1]
    assert result.get_extra_property('track_inds').tolist() == [1, 0]
    assert pairs(result) == set(expected)
    for (query, _), label in expected.items():
        assert result.labels[query].item() == label
    background = torch.ones(6, dtype=torch.bool)
    background[[q for q, _ in expected]] = False
    assert (result.gt_inds[background] == 0).all() and (result.labels[background] == -1).all()


def test_no_gt_all_background():
    pred, _ = bug_example()
    gt = InstanceData(labels=torch.zeros(0, 2, dtype=torch.long), bboxes=torch.zeros(0, 2, 4),
                      valid=torch.zeros(0, 2, dtype=torch.bool))
    result = assigner().assign(pred, gt)
    assert result.num_gts == 0 and (result.gt_inds == 0).all() and result.get_extra_property('cost').shape == (3, 0)


def test_more_gts_than_slots_matches_one_per_slot():
    pred, gt = bug_example()
    pred = pred[:1]  # one slot, two gts: gt 1 is matched
    for fix in (False, True):
        result = assigner(fix, [dict(type='SequenceBBoxL1Cost')]).assign(pred, gt)
        assert result.get_extra_property('track_inds').tolist() == [1]
    # official: row 0 takes gt 0's frames (frame 0 only)
    assert pairs(assigner(False, [dict(type='SequenceBBoxL1Cost')]).assign(pred, gt)) == {(0, 2)}
    assert pairs(assigner(True, [dict(type='SequenceBBoxL1Cost')]).assign(pred, gt)) == {(0, 2), (1, 3)}


# -- official parity ----------------------------------------------------------------------------


@pytest.mark.parametrize('case_path', vistr_parity_cases('case_loss'))
@pytest.mark.parametrize('fix', [False, True], ids=['official', 'fixed_matcher'])
def test_matches_official_every_layer(case_path, fix):
    case = load_loss_case(case_path)
    reference = case['fixed_matcher'] if fix else case
    logits, boxes = all_layers(case)
    targets = official_targets(case)
    num_frames = case['config']['num_frames']
    match = assigner(fix)
    assert len(reference['matcher_indices_per_layer']) == logits.shape[0]
    for lid, per_video in enumerate(reference['matcher_indices_per_layer']):
        for vid, (off_queries, off_rows) in enumerate(per_video):
            gt = targets[vid]
            result = match.assign(slot_sequences(logits[lid, vid], boxes[lid, vid], num_frames),
                                  InstanceData(labels=gt.labels, bboxes=gt.bboxes, valid=gt.valid))
            assert pairs(result) == set(zip(off_queries.tolist(), off_rows.tolist())), (lid, vid)
            if len(per_video) == 1:  # the stored matrices are of the batch's single video
                torch.testing.assert_close(result.get_extra_property('cost'), case['matcher_costs_per_layer'][lid],
                                           rtol=0, atol=1e-5)
