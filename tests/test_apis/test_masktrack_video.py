"""MaskTrack R-CNN through the toolbox's video tools with no model-specific code there: ``inference_video`` on
frames of any size (padding is the model's), the demo's json, and the benchmark's stages (the model's own)."""
import glob
import json
import os.path as osp

import cv2
import pytest
import torch

from mmseqformer.apis import inference_video, init_model

from ..test_tools.tool_helpers import load_module
from .conftest import REPO
from .test_online_model import moving_square_frames

TOY = osp.join(REPO, 'configs', 'masktrack_rcnn', 'masktrack-rcnn_mbv2-toy_1xb1-6000i_toy.py')
CHECKPOINT = osp.join(REPO, 'demo', 'checkpoints', 'masktrack-rcnn_mbv2-toy_1xb1-6000i_toy.pth')
# random weights: keep the few most confident detections, empty masks included, so that tracks exist
OPTIONS = {'model.detector.test_cfg.rcnn.score_thr': 0.0, 'model.detector.test_cfg.rcnn.max_per_img': 3,
           'model.detector.test_cfg.rcnn.mask_thr_binary': 0.45, 'model.test_cfg.drop_empty': False}


def toy_frames(root, video='valid_0000', num_frames=6, crop=(300, 180)):
    """BGR frames of a toy valid video, cropped to a size that is not a multiple of 32."""
    names = sorted(glob.glob(osp.join(root, 'valid', 'JPEGImages', video, '*.jpg')))[:num_frames]
    return [cv2.imread(name)[:crop[0], :crop[1]] for name in names]


def test_shipped_toy_model_tracks_frames_not_divisible_by_32(toy_vis_default):
    """The shipped toy checkpoint through ``inference_video``: objects found in every frame, their ids kept."""
    model = init_model(TOY, CHECKPOINT)
    frames = toy_frames(toy_vis_default)
    result = inference_video(model, frames)
    assert len(result) == len(frames)
    per_frame = []
    for sample in result:
        inst = sample.pred_track_instances
        assert inst.masks.shape[1:] == (300, 180) and inst.masks.dtype == torch.bool
        assert ((inst.bboxes[:, 2] <= 180) & (inst.bboxes[:, 3] <= 300)).all()
        confident = inst.scores >= 0.5
        assert confident.any()
        per_frame.append(set(inst.instances_id[confident].tolist()))
    longest = max(sum(i in ids for ids in per_frame) for i in set.union(*per_frame))
    assert longest >= len(frames) - 1  # a confident track keeps its id through the clip


def test_demo_and_benchmark_run_the_toy_config(tmp_path):
    torch.manual_seed(0)
    model = init_model(TOY, cfg_options=OPTIONS)
    checkpoint = tmp_path / 'toy.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    folder = tmp_path / 'frames'
    folder.mkdir()
    for t, frame in enumerate(moving_square_frames(num_frames=4)):
        cv2.imwrite(str(folder / f'{t:03d}.png'), frame)
    demo = load_module(osp.join(REPO, 'demo', 'video_demo.py'))
    out_json = tmp_path / 'out.json'
    options = [f'{k}={v}' for k, v in OPTIONS.items()]
    code = demo.main([str(folder), TOY, str(checkpoint), '--out', str(tmp_path / 'out.mp4'), '--out-json',
                      str(out_json), '--cfg-options', *options])
    assert code == 0
    results = json.loads(out_json.read_text())
    assert results and all(len(r['segmentations']) == 4 for r in results)
    assert osp.getsize(tmp_path / 'out.mp4') > 0
    bench = load_module(osp.join(REPO, 'tools', 'analysis_tools', 'benchmark.py'))
    out = tmp_path / 'bench.json'
    code = bench.main([TOY, str(checkpoint), '--frames', '3', '--short-side', '64', '--repeat', '1', '--warmup', '0',
                       '--json', str(out), '--cfg-options', *options])
    assert code == 0
    stages = json.loads(out.read_text())['stages']
    assert list(stages)[:4] == ['backbone', 'rpn', 'roi_heads', 'track']
    assert all(stages[name] > 0 for name in ('backbone', 'rpn', 'roi_heads', 'track'))


OBJPROP = osp.join(REPO, 'configs', 'objprop', 'objprop_mbv2-toy_1xb1-2000i_toy.py')
OBJPROP_CHECKPOINT = osp.join(REPO, 'demo', 'checkpoints', 'objprop_mbv2-toy_1xb1-2000i_toy.pth')


def test_objprop_through_inference_and_benchmark(toy_vis_default, tmp_path):
    """ObjProp through the same tools: propagated tracks come out like detected ones; the benchmark times the
    model's own stages, propagation included."""
    model = init_model(OBJPROP, OBJPROP_CHECKPOINT, cfg_options={'model.tracker.mask_thr': 0.0})
    frames = toy_frames(toy_vis_default, video='valid_0007', num_frames=8, crop=(180, 150))
    ids = []
    for sample in inference_video(model, frames):
        inst = sample.pred_track_instances
        assert inst.masks.shape[1:] == (180, 150) and inst.masks.dtype == torch.bool
        assert len(set(inst.instances_id.tolist())) == len(inst)
        ids.append(inst.instances_id.tolist())
    assert any(ids)
    bench = load_module(osp.join(REPO, 'tools', 'analysis_tools', 'benchmark.py'))
    out = tmp_path / 'bench.json'
    code = bench.main([OBJPROP, OBJPROP_CHECKPOINT, '--frames', '3', '--short-side', '64', '--repeat', '1',
                       '--warmup', '0', '--json', str(out)])
    assert code == 0
    stages = json.loads(out.read_text())['stages']
    assert list(stages)[:5] == ['backbone', 'rpn', 'roi_heads', 'track', 'propagate']
    assert stages['propagate'] > 0


def test_benchmark_trains_on_a_key_and_a_reference_frame():
    """The benchmark's training batch follows the model's clip layout (a key and a reference frame, marked as mmdet's
    ``PackTrackInputs`` marks them): detection and tracking losses come out finite, and ``benchmark.py --train``
    times it; another clip length is refused by the model, in one line."""
    from mmseqformer.apis.benchmark import benchmark_train, make_train_batch
    model = init_model(TOY).train()
    meta = model.training_clip_meta(2)
    assert meta == dict(key_frames_inds=[0], ref_frames_inds=[1])
    batch = model.data_preprocessor(make_train_batch(2, (96, 160), 1, 6, meta), True)
    losses = model.loss(**batch)
    assert {'loss_rpn_cls', 'loss_cls', 'loss_mask', 'loss_match'} <= set(losses)
    assert all(torch.isfinite(sum(v) if isinstance(v, list) else v).all() for v in losses.values())
    result = benchmark_train(TOY, None, 2, (96, 160), repeat=1, warmup=0)
    assert result['mode'] == 'train' and result['model'] == 'OnlineMaskTrackRCNN' and result['frames'] == 2
    assert result['sec_per_iter'] > 0
    with pytest.raises(ValueError, match='trains on a key and a reference frame: 2 frames, got 3'):
        model.training_clip_meta(3)
