"""ObjPropTracker: the official designed propagation (case_prop_infer*.pt of the ObjProp parity folder) and its
bounds (history, ids propagated, objects that left)."""
import os.path as osp

import pytest
import torch
from mmengine.structures import InstanceData

from mmseqformer.models.heads import ObjPropHead
from mmseqformer.models.trackers import ObjPropTracker

from ..conftest import objprop_parity_cases
from .test_objprop_parity_head import dequant_levels, official_head

META = dict(img_shape=(120, 160), ori_shape=(240, 320), scale_factor=(0.5, 0.5), batch_input_shape=(128, 160))


def tracks_of(det, shape=(240, 320)):
    """Scripted tracked detections: box-shaped masks at the output size."""
    masks = torch.zeros(len(det['obj_ids']), *shape, dtype=torch.bool)
    for k, (x1, y1, x2, y2) in enumerate(det['bboxes'].long().tolist()):
        masks[k, y1:y2, x1:x2] = True
    return InstanceData(instances_id=det['obj_ids'], bboxes=det['bboxes'], scores=det['scores'],
                        labels=det['labels'], masks=masks)


@pytest.mark.parametrize('case_path', objprop_parity_cases('case_prop_infer'), ids=lambda p: osp.basename(str(p)))
def test_missed_object_is_propagated_as_officially_designed(case_path, official_objprop_module):
    assert case_path is not None, 'no case_prop_infer*.pt in the ObjProp parity folder'
    case = torch.load(case_path, weights_only=True)
    inputs, outputs = case['inputs'], case['outputs']
    head = official_head(official_objprop_module).eval()
    tracker = ObjPropTracker(prop_history=inputs['history_len'], mask_thr=inputs['threshold'])
    with torch.no_grad():
        for t, levels in enumerate(inputs['frames_x_q']):
            fused = head.fuse(dequant_levels(official_objprop_module, levels, inputs['input_scale']))
            if t == 2:  # the padded-size mask of the missed id is the official one, pixel for pixel
                missing = tracker.missing_ids(inputs['dets'][2]['obj_ids'])
                assert missing.tolist() == [1]
                probs, scores, labels = tracker.propagated_probs(head, fused, missing, fused.new_tensor([0.5] * 4),
                                                                 META)
                assert torch.equal((probs[0] >= 0.3).to(torch.uint8), outputs['prop_mask_id1'])
            result = tracker.complete(head, fused, tracks_of(inputs['dets'][t]), META, rescale=True)
    assert result.instances_id.tolist() == list(outputs['segm_ids_frame2'])
    official = outputs['bbox_results_frame2']
    det = inputs['dets'][2]
    assert torch.equal(result.bboxes[0], det['bboxes'][0]) and result.masks[0].sum() == 116 * 126  # detection kept
    assert result.labels.tolist() == [official[0]['label'], official[1]['label']]
    torch.testing.assert_close(result.scores[1], official[1]['bbox'][4])
    x1, y1, x2, y2 = official[1]['bbox'][:4].tolist()  # official: inclusive extent in padded-input pixels
    expected = torch.tensor([x1, y1, x2 + 1, y2 + 1], dtype=torch.float) * 2  # ours: exclusive, original pixels
    assert (result.bboxes[1] - expected).abs().max() <= 2
    assert result.masks[1].shape == (240, 320)


def small_setup(**kwargs):
    torch.manual_seed(0)
    head = ObjPropHead(in_channels=8, channels=16, num_classes=3).eval()
    head.init_weights()
    torch.manual_seed(1)
    feats = [torch.randn(1, 8, 16 // s, 20 // s) for s in (1, 2, 4, 8)]
    meta = dict(img_shape=(64, 80), ori_shape=(64, 80), scale_factor=(1.0, 1.0), batch_input_shape=(64, 80))
    return head, head.fuse(feats).detach(), meta, ObjPropTracker(**kwargs)


def dets(ids, shape=(64, 80)):
    n = len(ids)
    boxes = torch.tensor([[8. + 4 * i, 8., 40. + 4 * i, 48.] for i in range(n)]).view(-1, 4)
    return tracks_of(dict(obj_ids=torch.tensor(ids, dtype=torch.long), bboxes=boxes,
                          scores=torch.linspace(0.9, 0.5, n) if n else torch.zeros(0),
                          labels=torch.ones(n, dtype=torch.long)), shape)


def test_history_and_propagated_ids_are_bounded_and_objects_that_left_stop():
    head, fused, meta, tracker = small_setup(prop_history=3, max_prop_ids=2, mask_thr=0.0)
    with torch.no_grad():
        tracker.complete(head, fused, dets([0, 1, 2]), meta, rescale=True)
        out = tracker.complete(head, fused, dets([]), meta, rescale=True)
        assert out.instances_id.tolist() == [0, 1]  # the 2 best mean scores (threshold 0: every mask non-empty)
        assert out.bboxes.tolist()[0] == [0., 0., 80., 64.]
        for _ in range(2):  # frames 2, 3: frame 0's detections are still among the last 3 frames
            out = tracker.complete(head, fused, dets([]), meta, rescale=True)
            assert out.instances_id.tolist() == [0, 1]
        out = tracker.complete(head, fused, dets([]), meta, rescale=True)
        assert len(tracker.frames) == 3
        assert len(out) == 0  # no detection of them in the last 3 frames: not carried on by propagation alone


def test_detected_ids_are_not_propagated_and_switch_off_gives_masktrack():
    head, fused, meta, tracker = small_setup(mask_thr=0.0)
    with torch.no_grad():
        tracker.complete(head, fused, dets([0, 1]), meta, rescale=True)
        out = tracker.complete(head, fused, dets([1]), meta, rescale=True)
    assert out.instances_id.tolist() == [1, 0]
    assert torch.equal(out.masks[0], dets([1]).masks[0])
    assert ObjPropTracker(propagate=False).propagate is False
    with pytest.raises(ValueError, match='prop_history'):
        ObjPropTracker(prop_history=0)


def test_max_gap_and_exclude_detected():
    head, fused, meta, tracker = small_setup(mask_thr=0.0, max_gap=1, exclude_detected=True)
    with torch.no_grad():
        tracker.complete(head, fused, dets([0, 1]), meta, rescale=True)
        out = tracker.complete(head, fused, dets([1]), meta, rescale=True)
        assert out.instances_id.tolist() == [1, 0]
        assert not (out.masks[1] & out.masks[0]).any()  # id 0 only where the detection of id 1 is not
        assert out.masks[1].any()
        out = tracker.complete(head, fused, dets([1]), meta, rescale=True)
        assert out.instances_id.tolist() == [1]  # id 0 last detected 2 frames ago: beyond max_gap=1
