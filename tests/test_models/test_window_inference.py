"""Windowed inference: window placement, query linking across windows, agreement with whole-video inference."""
import re

import pytest
import torch

from mmseqformer.models.task_modules.tracking import (WindowTrackLinker, check_window_test_cfg, match_links,
                                                     same_class_nms, track_iou, window_starts)

from .conftest import tiny_model
from .test_seqformer import make_clip


@pytest.mark.parametrize('t,size,stride,expected', [
    (10, 5, 2, [0, 2, 4, 5]), (9, 5, 2, [0, 2, 4]), (3, 5, 2, [0]), (5, 5, 5, [0]), (12, 4, 4, [0, 4, 8])])
def test_window_starts_cover_the_video(t, size, stride, expected):
    assert window_starts(t, size, stride) == expected
    covered = set()
    for s in window_starts(t, size, stride):
        covered.update(range(s, min(t, s + size)))
    assert covered == set(range(t))


def test_window_starts_reject_bad_strides():
    with pytest.raises(ValueError, match='window_stride'):
        window_starts(10, 4, 5)
    with pytest.raises(ValueError, match='window_stride'):
        window_starts(10, 4, 0)


@pytest.mark.parametrize('key,value,words', [
    ('window_size', 'abc', 'an integer >= 1'), ('window_size', 0, 'an integer >= 1'),
    ('window_stride', 1.5, 'None or an integer'), ('window_stride', 9, 'in [0, window_size=2]'),
    ('link_iou_thr', 1.5, 'in [0, 1]'), ('link_score_thr', 'x', 'in [0, 1]'), ('link_embed_weight', -1, '>= 0'),
    ('track_nms_thr', 'abc', 'None or a number in [0, 1]'), ('track_nms_pool', 0, 'an integer >= 1'),
    ('track_nms_pool', True, 'an integer >= 1')])
def test_window_test_cfg_is_checked(key, value, words):
    good = dict(window_size=2, window_stride=1, link_iou_thr=0.5, link_embed_weight=1.0, link_score_thr=0.05,
                track_nms_thr=0.7)
    check_window_test_cfg(good)
    check_window_test_cfg(dict(max_per_video=10, link_iou_thr='ignored without windows'))
    with pytest.raises(ValueError, match=re.escape(f'test_cfg.{key} must be')) as error:
        check_window_test_cfg(dict(good, **{key: value}))
    assert words in str(error.value)


def test_model_with_a_bad_window_option_is_not_built():
    with pytest.raises(ValueError, match='test_cfg.track_nms_thr'):
        tiny_model(test_cfg=dict(window_size=2, track_nms_thr='abc'))


@pytest.mark.parametrize('key,value', [('max_per_video', 'abc'), ('max_per_video', 0), ('max_per_video', True),
                                       ('chunk_size', 2.5), ('mask_thr', 2), ('drop_empty', 'yes')])
def test_bad_test_rules_are_refused(key, value):
    """Checked without windows too (the check the model runs when it is built): a bad value must not surface as a
    TypeError after a video was read."""
    model = tiny_model()
    model.check_test_cfg()
    model.track_head.test_cfg = dict(dict(max_per_video=10), **{key: value})
    with pytest.raises(ValueError, match=re.escape(f'test_cfg.{key} must be')):
        model.check_test_cfg()


def _box_masks(boxes, num_frames, hw=(20, 20)):
    """(k, num_frames, h, w) bool: query i covers boxes[i] = (y0, y1, x0, x1) on every frame."""
    masks = torch.zeros((len(boxes), num_frames, *hw), dtype=torch.bool)
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        masks[i, :, y0:y1, x0:x1] = True
    return masks


def test_track_iou_sums_over_frames():
    a = torch.zeros((1, 2, 4, 4), dtype=torch.bool)
    b = torch.zeros((1, 2, 4, 4), dtype=torch.bool)
    a[0, 0, :2] = True  # 8 px on frame 0
    b[0, 0, :1] = True  # 4 px on frame 0, inside a
    b[0, 1, :1] = True  # 4 px on frame 1, a is empty there
    assert track_iou(a, b).item() == pytest.approx(4 / 12)


def test_linker_links_by_overlap_regardless_of_class():
    linker = WindowTrackLinker(window_size=3, iou_thr=0.5)
    s0 = torch.tensor([[0.9, 0.1], [0.2, 0.6]])
    linker.add(0, 0, s0, _box_masks([(0, 5, 0, 5), (10, 15, 10, 15)], 4), torch.tensor([3, 7]))
    # next window (frames 2..5): query 1 continues track 0 with another best class; query 0 continues track 1;
    # query 2 overlaps nothing and starts track 2
    s1 = torch.tensor([[0.1, 0.8], [0.5, 0.3], [0.4, 0.4]])
    linker.add(1, 2, s1, _box_masks([(10, 15, 10, 15), (0, 5, 1, 5), (16, 20, 16, 20)], 4), torch.tensor([0, 1, 2]))
    assert linker.counts == [2, 2, 1]
    torch.testing.assert_close(linker.scores(), torch.tensor([[0.7, 0.2], [0.15, 0.7], [0.4, 0.4]]))
    # each frame is taken from the first window that covered it
    assert linker.sources[0] == {0: (0, 3), 1: (0, 3), 2: (0, 3), 3: (0, 3), 4: (1, 1), 5: (1, 1)}
    assert linker.sources[1][5] == (1, 0) and linker.sources[2] == {t: (1, 2) for t in range(2, 6)}


def test_linker_needs_enough_overlap():
    linker = WindowTrackLinker(window_size=3, iou_thr=0.5)
    linker.add(0, 0, torch.ones(1, 2), _box_masks([(0, 10, 0, 10)], 3), torch.tensor([0]))
    linker.add(1, 2, torch.ones(1, 2), _box_masks([(0, 10, 5, 15)], 3), torch.tensor([0]))  # IoU 1/3
    assert linker.counts == [1, 1]


def test_match_links_assigns_only_pairs_above_the_threshold():
    iou = torch.tensor([[0.6, 0.45], [0.55, 0.0]])
    # plain Hungarian on IoU would pick (0, 1) + (1, 0) (sum 1.0) and then lose (0, 1) to the threshold
    assert match_links(iou, 0.5) == [(0, 0)]
    assert match_links(iou, 0.5, bonus=torch.tensor([[0.0, 0.0], [1.0, 0.0]])) == [(1, 0)]
    assert match_links(iou, 0.7) == []


def test_linker_embeddings_keep_a_track_on_its_query():
    """Two queries segment one object: IoU alone gives the track to the duplicate that overlaps best, the
    embedding term to the query whose decoder output matches the track's."""
    track, other = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    masks0 = _box_masks([(0, 10, 0, 10)], 2)
    masks1 = _box_masks([(0, 10, 0, 10), (0, 10, 0, 9)], 2)  # duplicate: IoU 1.0; the query itself: IoU 0.9
    for weight, expected in ((0.0, [0, 1]), (1.0, [1, 0])):
        linker = WindowTrackLinker(window_size=3, iou_thr=0.5, embed_weight=weight)
        linker.add(0, 0, torch.tensor([[0.9]]), masks0, torch.tensor([4]), track)
        linker.add(1, 1, torch.tensor([[0.1], [0.8]]), masks1, torch.tensor([2, 4]), torch.cat([other, track]))
        assert linker.prev[2] == expected
        assert linker.counts == [2, 1]


def test_linker_embeddings_never_link_below_the_iou_threshold():
    linker = WindowTrackLinker(window_size=3, iou_thr=0.5, embed_weight=10.0)
    same = torch.tensor([[1.0, 0.0]])
    linker.add(0, 0, torch.ones(1, 2), _box_masks([(0, 10, 0, 10)], 3), torch.tensor([0]), same)
    linker.add(1, 2, torch.ones(1, 2), _box_masks([(0, 10, 5, 15)], 3), torch.tensor([0]), same)  # IoU 1/3
    assert linker.counts == [1, 1]


def _predict(model, frames, sample):
    with torch.no_grad():
        (result,) = model.predict(frames[None], [sample])
    return [frame.pred_track_instances for frame in result]


def test_one_window_equals_whole_video_inference():
    """A window holding the whole video, nothing filtered: the same pairs, scores and masks as the official path."""
    model = tiny_model().eval()
    frames, sample = make_clip(4, (64, 96), (64, 96))
    num_pairs = model.num_queries * model.num_classes
    model.track_head.test_cfg = dict(max_per_video=num_pairs, mask_thr=0.5, drop_empty=True)
    whole = _predict(model, frames, sample)
    model.track_head.test_cfg.update(window_size=4, window_stride=4, link_score_thr=0.0)
    windowed = _predict(model, frames, sample)
    assert len(windowed[0]) == len(whole[0]) > 0
    for a, b in zip(whole, windowed):
        torch.testing.assert_close(a.scores, b.scores)
        assert torch.equal(a.labels, b.labels) and torch.equal(a.masks, b.masks)


def test_windowed_predict_contract():
    model = tiny_model().eval()
    frames, sample = make_clip(7, (64, 96), (64, 96))
    for frame in sample.video_data_samples:
        frame.set_metainfo(dict(ori_shape=(128, 192)))
    model.track_head.test_cfg = dict(max_per_video=5, window_size=3, window_stride=2, link_score_thr=0.0)
    result = _predict(model, frames, sample)
    assert len(result) == 7 and 0 < len(result[0]) <= 5
    for pred in result:
        assert pred.masks.shape[1:] == (128, 192) and pred.masks.dtype == torch.bool
        assert torch.equal(pred.scores, result[0].scores) and torch.equal(pred.labels, result[0].labels)
    assert torch.all(result[0].scores[:-1] >= result[0].scores[1:])


def test_same_class_nms_keeps_the_best_of_each_duplicate_group():
    labels = torch.tensor([0, 0, 1, 0, 1])
    iou = torch.eye(5)
    iou[0, 1] = iou[1, 0] = 0.8  # pair 1 duplicates pair 0 (same class): dropped
    iou[2, 3] = iou[3, 2] = 0.9  # pairs 2 and 3 overlap but differ in class: both kept
    iou[3, 4] = iou[4, 3] = 0.9
    iou[2, 4] = iou[4, 2] = 0.6  # below the threshold: kept
    assert same_class_nms(labels, iou, 0.7).tolist() == [True, False, True, True, True]
    assert same_class_nms(labels, iou, 0.5).tolist() == [True, False, True, True, False]


def _track_iou_of_results(result):
    masks = torch.stack([pred.masks for pred in result], 1)  # (k, T, H, W)
    return track_iou(masks, masks)


def test_windowed_track_nms_drops_only_same_class_duplicates():
    model = tiny_model().eval()
    frames, sample = make_clip(6, (64, 96), (64, 96))
    num_pairs = model.num_queries * model.num_classes
    model.track_head.test_cfg = dict(max_per_video=num_pairs, window_size=3, window_stride=2, link_score_thr=0.0)
    full = _predict(model, frames, sample)
    thr = 0.5
    model.track_head.test_cfg.update(track_nms_thr=thr)
    nms = _predict(model, frames, sample)
    kept = {(round(s, 6), int(c)) for s, c in zip(nms[0].scores.tolist(), nms[0].labels)}
    assert 0 < len(nms[0]) < len(full[0])
    full_iou = _track_iou_of_results(full)
    for i, (score, label) in enumerate(zip(full[0].scores.tolist(), full[0].labels.tolist())):
        same = [j for j in range(i) if full[0].labels[j] == label and full_iou[i, j] > thr]
        was_kept = (round(score, 6), label) in kept
        # dropped exactly when a kept, higher-scoring pair of its class overlaps it above the threshold
        assert was_kept != any((round(full[0].scores[j].item(), 6), label) in kept for j in same)
    nms_iou = _track_iou_of_results(nms)
    same_class = nms[0].labels[:, None] == nms[0].labels[None]
    assert not (same_class & (nms_iou > thr) & ~torch.eye(len(nms[0]), dtype=torch.bool)).any()
