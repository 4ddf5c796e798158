"""VisTR on the video interface (issue #18 item 5 and its bad input): a video up to ``num_frames`` frames gives what
the official inference gives (the clip tiled cyclically, outputs cut to the real length), a longer one goes in
windows linked into tracks, frames too small for the mask head are refused by the inference API.

A tiny seeded VisTR (ResNet-18, width 192, 4 frames x 3 queries); frames go in as tensors through
``model.predict_video``.
"""
import os.path as osp

import numpy as np
import pytest
import torch

from mmseqformer.apis import VideoInputError, init_model, iter_video_results
from mmseqformer.models.task_modules.tracking import WindowTrackLinker, window_starts
from mmseqformer.models.vis.frame_encodings import EncodedFrames
from mmseqformer.models.vis.vistr_clip import VisTRClip, select_slots, slot_results

from ..test_models.test_vistr_components import tiny_vistr
from .conftest import REPO

NUM_FRAMES = 4
META = dict(img_shape=(64, 96), ori_shape=(48, 72))  # masks come back at ori_shape
TOY_VISTR = osp.join(REPO, 'configs', 'vistr', 'vistr_mbv2-toy_1xb1-8500i_toy.py')


def with_classes(model):
    """Random VisTR weights make every slot vote for column 0 ("absent"), which gives no result at all: a random
    class branch with the absent column pushed down gives the slots classes."""
    g = torch.Generator().manual_seed(1)
    fc = model.track_head.fc_cls
    with torch.no_grad():
        fc.weight.copy_(0.3 * torch.randn(fc.weight.shape, generator=g))
        fc.bias.zero_()
        fc.bias[0] = -3.0
    return model


@pytest.fixture(scope='module')
def model():
    model = with_classes(tiny_vistr(num_frames=NUM_FRAMES))
    assert (model.num_frames, model.queries_per_frame, model.video_test_cfg['window_size']) == (NUM_FRAMES, 3, 4)
    return model


def video(length):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(3, *META['img_shape'], generator=g) for _ in range(length)]


def predict(model, frames, chunk_size):
    with torch.no_grad():
        return list(model.predict_video(iter(frames), dict(META), chunk_size))


def official_clip(model, frames):
    """The official inference on a video of T <= num_frames frames: the clip of frames t % T for t < num_frames
    through the model (tensor mode, official layouts), the outputs of the first T frames kept.

    Returns:
        logits (T, P, K + 2), mask logits (P, T, h, w).
    """
    t, n, p = len(frames), model.num_frames, model.queries_per_frame
    clip = torch.stack([frames[i % t] for i in range(n)])[None]
    with torch.no_grad():
        out = model._forward(clip)
    logits = out['pred_logits'][0].view(n, p, -1)[:t]
    masks = out['pred_masks'][0].view(n, p, *out['pred_masks'].shape[-2:])[:t].transpose(0, 1)
    return logits, masks


def expected_results(model, frames):
    """(scores, labels, masks (k, T, H, W)) of the official result rule on :func:`official_clip`."""
    logits, mask_logits = official_clip(model, frames)
    clip = VisTRClip(logits, mask_logits, torch.zeros(logits.shape[1], 1), dict(META))
    scores, labels, slots = select_slots(clip.scores, model.video_test_cfg['max_per_video'])
    # the official rule by hand: a slot's score is its mean best probability, its class the vote of its frames
    score, category, _ = slot_results(logits)
    assert torch.equal(labels, category[slots] - 1) and torch.equal(scores, score[slots])
    assert (category[slots] > 0).all() and torch.all(scores[:-1] >= scores[1:])
    return scores, labels, clip.masks(slots, 0, len(frames), rescale=True)


def assert_results_equal(results, scores, labels, masks):
    assert [i for i, _ in results] == list(range(masks.shape[1]))
    for t, inst in results:
        torch.testing.assert_close(inst.scores, scores)
        assert torch.equal(inst.labels, labels)
        assert torch.equal(inst.instances_id, torch.arange(len(scores)))
        assert inst.masks.shape == (len(scores), *META['ori_shape'])
        mismatch = (inst.masks != masks[:, t]).float().mean().item()
        assert mismatch < 1e-4, (t, mismatch)  # threshold ties at a mask boundary only


@pytest.mark.parametrize('length', [1, 3])
def test_short_video_is_the_cyclically_tiled_clip_cut_to_its_length(model, length):
    frames = video(length)
    scores, labels, masks = expected_results(model, frames)
    assert len(scores) > 0 and masks.any()  # not vacuous
    for chunk_size in sorted({1, 2, length}):
        assert_results_equal(predict(model, frames, chunk_size), scores, labels, masks)


def test_short_video_differs_from_other_fillings(model):
    """The tiling is cyclic: filling the clip by repeating the last frame instead gives other outputs."""
    frames = video(3)
    logits, _ = official_clip(model, frames)
    repeat_last = frames + [frames[-1]] * (NUM_FRAMES - 3)
    other, _ = official_clip(model, repeat_last)
    assert not torch.allclose(logits, other[:3], atol=1e-4)


@pytest.fixture
def windows(model, monkeypatch):
    """Records the video frame range [start, stop) and the frame count of every clip the model decodes."""
    ranges, sizes = [], []
    view, decode_clip = EncodedFrames.view, model.decode_clip

    def recording_view(self, start, stop):
        ranges.append((start, stop))
        return view(self, start, stop)

    def recording_decode_clip(enc, meta):
        sizes.append(enc['src'].shape[0])
        return decode_clip(enc, meta)

    monkeypatch.setattr(EncodedFrames, 'view', recording_view)
    monkeypatch.setattr(model, 'decode_clip', recording_decode_clip)
    return ranges, sizes


def test_video_of_num_frames_is_one_clip(model, windows):
    frames = video(NUM_FRAMES)
    results = predict(model, frames, 3)
    assert windows == ([(0, NUM_FRAMES)], [NUM_FRAMES])
    assert_results_equal(results, *expected_results(model, frames))


@pytest.mark.parametrize('length,window_size,window_stride,starts', [
    (NUM_FRAMES + 1, None, None, [0, 1]),  # default: windows of num_frames every num_frames // 2
    (11, None, 3, [0, 3, 6, 7]),  # the last window ends at the video's end
    (NUM_FRAMES, 3, 2, [0, 1]),  # windows shorter than the clip (each tiled to num_frames)
])
def test_longer_video_goes_in_windows(model, windows, monkeypatch, length, window_size, window_stride, starts):
    cfg = dict(model.test_cfg, window_stride=window_stride)
    if window_size is not None:
        cfg['window_size'] = window_size
    monkeypatch.setattr(model.track_head, 'test_cfg', cfg)
    size = window_size or NUM_FRAMES
    assert window_starts(length, size, window_stride or size // 2) == starts
    results = predict(model, video(length), 2)
    assert windows == ([(s, s + size) for s in starts], [size] * len(starts))
    assert [i for i, _ in results] == list(range(length))


def test_long_video_tracks(model, monkeypatch):
    """16 frames = 7 windows of 4 every 2. Every frame once, in order, one set of tracks (ids, scores, labels) for the
    whole video; a track that starts in the first window has that window's own masks on the frames it supplies.
    Every (track, class) pair with a score is kept (``max_per_video`` above their number)."""
    clips, added, selected = [], [], []
    decode_clip, add, select = model.decode_clip, WindowTrackLinker.add, WindowTrackLinker.select

    def recording_decode_clip(enc, meta):
        clips.append(decode_clip(enc, meta))
        return clips[-1]

    def recording_add(self, window, start, scores, masks, query_inds, embeds=None):
        ids = add(self, window, start, scores, masks, query_inds, embeds)
        added.append((window, start, query_inds.tolist(), list(ids)))
        return ids

    def recording_select(self, *args, **kwargs):
        out = select(self, *args, **kwargs)
        selected.append(out[2].tolist())
        return out

    monkeypatch.setattr(model, 'decode_clip', recording_decode_clip)
    monkeypatch.setattr(WindowTrackLinker, 'add', recording_add)
    monkeypatch.setattr(WindowTrackLinker, 'select', recording_select)
    monkeypatch.setattr(model.track_head, 'test_cfg', dict(model.test_cfg, max_per_video=1000))
    length = 4 * NUM_FRAMES
    results = predict(model, video(length), 3)

    assert [i for i, _ in results] == list(range(length))
    assert [start for _, start, _, _ in added] == window_starts(length, NUM_FRAMES, NUM_FRAMES // 2)
    first = results[0][1]
    assert 0 < len(first) < 1000
    assert torch.all(first.scores > 0) and torch.all(first.scores[:-1] >= first.scores[1:])
    for _, inst in results:
        assert torch.equal(inst.instances_id, torch.arange(len(first)))
        assert torch.equal(inst.scores, first.scores) and torch.equal(inst.labels, first.labels)
    masks = torch.stack([inst.masks for _, inst in results], 1)  # (k, T, H, W)
    (tracks,) = selected
    track_start = {}  # track -> (window, start, query) where it began
    for window, start, queries, ids in added:
        for query, track in zip(queries, ids):
            track_start.setdefault(track, (window, start, query))
    from_first = 0
    for k, track in enumerate(tracks):
        window, start, query = track_start[track]
        assert not masks[k, :start].any()  # nothing before the track began
        if window == 0:
            from_first += 1
            own = clips[0].masks(torch.tensor([query]), 0, NUM_FRAMES, rescale=True)[0]
            assert torch.equal(masks[k, :NUM_FRAMES], own), k
    assert from_first > 0


def test_linker_selects_only_pairs_with_a_score():
    """A VisTR track scores only the classes its slots voted for: its other (track, class) pairs have score 0 and
    are no detections, however large ``max_per_video``."""
    linker = WindowTrackLinker(window_size=2)
    masks = torch.ones((2, 2, 4, 4), dtype=torch.bool)
    linker.add(0, 0, torch.tensor([[0.0, 0.9, 0.0], [0.0, 0.0, 0.6]]), masks, torch.tensor([0, 1]))  # two tracks
    scores, labels, tracks = linker.select(10, lambda t, s, e: masks[t, s:e], 2)
    assert scores.tolist() == pytest.approx([0.9, 0.6]) and labels.tolist() == [1, 2] and tracks.tolist() == [0, 1]


def test_window_longer_than_the_clip_is_refused_when_built():
    with pytest.raises(ValueError, match=r'test_cfg\.window_size must be at most num_frames=4') as error:
        tiny_vistr(num_frames=NUM_FRAMES, test_cfg=dict(max_per_video=10, window_size=NUM_FRAMES + 1))
    assert 'got 5' in str(error.value)
    assert tiny_vistr(num_frames=NUM_FRAMES, test_cfg=dict(max_per_video=10, window_size=3)).video_test_cfg[
        'window_size'] == 3


# -- frames too small for the mask head --------------------------------------------------------------------

def test_frames_too_small_for_the_mask_head(tmp_path):
    """Through the inference API (what the demo calls): without a test-time resize, frames smaller than the C5
    stride are refused with one VideoInputError; the toy config's test pipeline upscales them (short side 192), so
    with it the same video is segmented."""
    no_resize = tmp_path / 'vistr_no_resize.py'
    no_resize.write_text(
        f'_base_ = {TOY_VISTR!r}\n'
        "test_pipeline = [dict(type='TransformBroadcaster', transforms=[dict(type='LoadImageFromFile'),\n"
        "    dict(type='LoadTrackAnnotations', with_mask=True)]), dict(type='PackTrackInputs')]\n"
        'test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n')
    frames = [np.full((16, 24, 3), 128, np.uint8)] * 2
    model = init_model(str(no_resize))
    assert model.min_input_side == 32
    with pytest.raises(VideoInputError, match=r'^frames are 16x24 at network size; each side must be in \[32, '):
        list(iter_video_results(model, frames))
    results = list(iter_video_results(init_model(TOY_VISTR), frames))
    assert [r.metainfo['frame_id'] for r in results] == [0, 1]
    assert results[0].metainfo['img_shape'] == (192, 288)
    assert all(r.pred_track_instances.masks.shape[1:] == (16, 24) for r in results)
