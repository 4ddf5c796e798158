"""Inference API: chunked equals unchunked, input kinds, options, windowed mode, checkpoint errors."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample, TrackDataSample

from mmseqformer.apis import (CheckpointError, FramePreprocessor, VideoSource, inference_video, init_model,
                              iter_video_results)
from mmseqformer.models.vis.frame_encodings import FrameEncoder

from .conftest import TOY_CHECKPOINT, TOY_CONFIG


def _frames(paths):
    return [cv2.imread(p) for p in paths]


def _toy_model(**test_cfg):
    """The shipped toy model with other test rules, set before it is built."""
    return init_model(TOY_CONFIG, TOY_CHECKPOINT, cfg_options={f'model.test_cfg.{k}': v for k, v in test_cfg.items()})


def _clip_outputs(model, frames, chunk_size):
    """Scores of every (query, class) pair, the kept pairs and their mask logits, encoding in chunks."""
    pre = FramePreprocessor(model)
    x = pre.to_tensor([pre.resize_frame(f) for f in frames], 'cpu')
    encoder = FrameEncoder(model, iter(x), chunk_size or len(x), capacity=1)  # capacity 1: the buffers must grow
    encoder.read_until(None)
    meta = dict(img_shape=tuple(x.shape[-2:]), ori_shape=frames[0].shape[:2])
    with torch.no_grad():
        dec = model.decode_clip(encoder.encoded.view(0, len(x)), meta)
        scores, labels, queries = model.select_pairs(dec.scores)
        logits = dec.mask_logits(queries, 0, len(x))
    return dec.scores.flatten(), dict(scores=scores, labels=labels, queries=dec.embeds[queries]), logits


@pytest.fixture(scope='module')
def unchunked_outputs(toy_model, toy_valid_video):
    """The reference of every chunk size: the whole video encoded at once (computed once, it costs CPU minutes)."""
    return _clip_outputs(toy_model, _frames(toy_valid_video[0]), None)


@pytest.mark.parametrize('chunk_size', [1, 3, 7])
def test_chunked_equals_unchunked(toy_model, toy_valid_video, unchunked_outputs, chunk_size):
    frames = _frames(toy_valid_video[0])
    ref_all, ref, ref_logits = unchunked_outputs
    all_scores, pred, logits = _clip_outputs(toy_model, frames, chunk_size)
    assert len(frames) >= 20
    assert torch.allclose(all_scores, ref_all, atol=1e-5)
    assert torch.allclose(pred['scores'], ref['scores'], atol=1e-5)
    k = len(ref['scores'])
    gap = torch.sort(ref_all, descending=True).values
    assert gap[k - 1] - gap[k] > 1e-4  # else the kept pairs would only be defined up to a tie
    assert torch.equal(pred['labels'], ref['labels'])
    assert torch.allclose(pred['queries'], ref['queries'], atol=1e-4)
    assert (logits - ref_logits).abs().max() <= 1e-3


def test_inference_video_matches_model_predict(toy_model, toy_valid_video):
    """The API gives what the model's own predict gives (tools/test.py's path), here in the toy config's windows."""
    paths, video, _ = toy_valid_video
    result = inference_video(toy_model, paths, chunk_size=4)
    assert isinstance(result, TrackDataSample) and len(result) == len(paths)
    frames = _frames(paths)
    pre = FramePreprocessor(toy_model)
    x = pre.to_tensor(frames, 'cpu')[None]
    sample = TrackDataSample()
    sample.video_data_samples = [DetDataSample(metainfo=dict(img_shape=f.shape[:2], ori_shape=f.shape[:2],
                                                              frame_id=i)) for i, f in enumerate(frames)]
    with torch.no_grad():
        (expected,) = toy_model.predict(x, [sample])
    first = result[0].pred_track_instances
    assert 0 < len(first) <= 10
    for t in range(len(paths)):
        got, exp = result[t].pred_track_instances, expected[t].pred_track_instances
        assert got.masks.shape == (len(exp), video['height'], video['width']) and got.masks.dtype == torch.bool
        assert torch.equal(got.labels, exp.labels) and torch.allclose(got.scores, exp.scores, atol=1e-5)
        assert torch.equal(got.instances_id, first.instances_id)
        mismatch = (got.masks != exp.masks).float().mean().item()
        assert mismatch < 1e-4, mismatch  # threshold ties at the mask boundary only


def test_input_kinds_give_the_same_result(toy_model, toy_valid_video, tmp_path):
    paths = toy_valid_video[0][:6]
    folder = tmp_path / 'frames'
    folder.mkdir()
    for p in paths:
        os.link(p, folder / osp.basename(p))
    arrays = _frames(paths)
    video_path = str(tmp_path / 'clip.avi')  # MJPG at quality 100 differs from the JPEG frames: only shapes
    writer = cv2.VideoWriter(video_path, cv2.VideoWriter_fourcc(*'MJPG'), 10, arrays[0].shape[1::-1])
    for a in arrays:
        writer.write(a)
    writer.release()
    results = {name: inference_video(toy_model, video, chunk_size=4)
               for name, video in [('paths', paths), ('folder', str(folder)), ('glob', str(folder / '*.jpg')),
                                   ('arrays', arrays)]}
    ref = results['paths']
    for name, res in results.items():
        assert len(res) == len(paths), name
        for t in range(len(paths)):
            assert torch.equal(res[t].pred_track_instances.masks, ref[t].pred_track_instances.masks), name
    from_video = inference_video(toy_model, video_path)
    assert len(from_video) == len(paths)
    assert from_video[0].pred_track_instances.masks.shape[1:] == ref[0].pred_track_instances.masks.shape[1:]


def test_frame_options_and_topk(toy_model, toy_valid_video):
    paths = toy_valid_video[0]
    res = inference_video(_toy_model(max_per_video=3), paths, max_frames=5, frame_stride=2, score_thr=0.0)
    assert len(res) == 5
    assert [s.metainfo['frame_id'] for s in res] == list(range(5))
    assert len(res[0].pred_track_instances) <= 3
    thr = inference_video(toy_model, paths[:6], score_thr=0.99)
    assert all((s.pred_track_instances.scores >= 0.99).all() for s in thr)


def test_window_mode(toy_model, toy_valid_video):
    paths = toy_valid_video[0][:12]
    assert toy_model.test_cfg['window_size'] == 2  # the toy config's test-time windows
    whole = inference_video(_toy_model(window_size=None), paths)  # official whole-video decoding
    one_window = inference_video(_toy_model(window_size=len(paths) + 4, link_score_thr=0.0, track_nms_thr=None),
                                 paths)
    for t in range(len(paths)):  # a window holding the whole video is the offline result
        a, b = whole[t].pred_track_instances, one_window[t].pred_track_instances
        same = torch.isin(b.instances_id, a.instances_id)  # offline drops pairs empty in every frame
        assert torch.equal(b.instances_id[same], a.instances_id)
        assert torch.equal(b.masks[same], a.masks) and torch.equal(b.labels[same], a.labels)


def test_window_mode_links_an_instance_across_windows(toy_model, toy_valid_video):
    """An instance visible in every frame keeps one id through 5 overlapping windows."""
    from pycocotools import mask as mask_util
    paths, video, anns = toy_valid_video
    paths = paths[:15]
    stay = next(a for a in anns if all(s is not None for s in a['segmentations'][:15]))
    results = list(iter_video_results(_toy_model(window_size=6, window_stride=3), paths))
    assert [s.metainfo['frame_id'] for s in results] == list(range(15))
    covering = []  # per frame: the ids whose mask overlaps the instance with IoU > 0.5
    for t, sample in enumerate(results):
        gt = torch.from_numpy(mask_util.decode(stay['segmentations'][t]).astype(bool))
        inst = sample.pred_track_instances
        covering.append({int(i) for m, i in zip(inst.masks, inst.instances_id)
                         if (m & gt).sum() > 0.5 * (m | gt).sum()})
    # frames 0-2 are reported from window 1, frames 12-14 from window 5: some id covers the instance in all
    assert set.intersection(*covering), covering
    linked = {int(i) for s in results for i in s.pred_track_instances.instances_id}
    assert len(linked) < 5 * 10  # unlinked windows would give 10 new ids each


def test_video_source_conversions(tmp_path):
    gray = np.full((20, 30), 128, np.uint8)
    rgba = np.zeros((20, 30, 4), np.uint8)
    deep = np.full((20, 30, 3), 65535, np.uint16)
    cv2.imwrite(str(tmp_path / 'a.png'), gray)
    cv2.imwrite(str(tmp_path / 'b.png'), rgba)
    cv2.imwrite(str(tmp_path / 'c.png'), deep)
    frames = list(VideoSource(str(tmp_path)))
    assert [f.shape for f in frames] == [(20, 30, 3)] * 3 and all(f.dtype == np.uint8 for f in frames)
    assert frames[0][0, 0].tolist() == [128] * 3 and frames[2][0, 0].tolist() == [255] * 3
    assert list(VideoSource([np.ones((20, 30), np.float32)]))[0][0, 0].tolist() == [255] * 3


def test_init_model_reports_unusable_config_options():
    from mmseqformer.apis import ConfigError
    with pytest.raises(ConfigError, match='cannot apply the config options'):
        init_model(TOY_CONFIG, TOY_CHECKPOINT, cfg_options={'model.test_cfg.window_size.x': 1})
    with pytest.raises(ConfigError, match='test_cfg.max_per_video must be'):
        init_model(TOY_CONFIG, TOY_CHECKPOINT, cfg_options={'model.test_cfg.max_per_video': 'abc'})


def test_init_model_rejects_a_foreign_checkpoint(tmp_path):
    state = torch.load(TOY_CHECKPOINT, map_location='cpu', weights_only=False)
    sd = state['state_dict']
    key = next(k for k in sd if k.endswith('query_embedding.weight'))
    bad = dict(state, state_dict={**{k: v for k, v in sd.items() if 'level_embed' not in k},
                                  key: sd[key][:5], 'extra.weight': torch.zeros(1)})
    torch.save(bad, tmp_path / 'bad.pth')
    with pytest.raises(CheckpointError, match=r'1 missing \(level_embed\); 1 unexpected \(extra.weight\); 1 with'):
        init_model(TOY_CONFIG, str(tmp_path / 'bad.pth'))
    data = open(TOY_CHECKPOINT, 'rb').read()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='not a readable checkpoint'):
        init_model(TOY_CONFIG, str(tmp_path / 'cut.pth'))
    with pytest.raises(FileNotFoundError):
        init_model(TOY_CONFIG, str(tmp_path / 'none.pth'))
