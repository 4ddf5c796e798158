"""MaskTrack R-CNN on the online interface: mmdet's parameters (keys and shapes of mmdet's own configs), mmdet's
tracking results frame by frame, a bounded tracker history, and defined results for the edge cases."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

from ..conftest import REPO
from .conftest import build_model

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'masktrack_rcnn', 'masktrack-rcnn_mask-rcnn_*.py')))
TOY = osp.join(REPO, 'configs', 'masktrack_rcnn', 'masktrack-rcnn_mbv2-toy_1xb1-6000i_toy.py')
MMDET_CONFIGS = osp.join(osp.dirname(__import__('mmdet').__file__), '.mim', 'configs', 'masktrack_rcnn')


def key_shapes(config: str) -> dict:
    with torch.device('meta'):
        model = build_model(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_model_zoo_configs_exist():
    names = {osp.basename(c) for c in CONFIGS}
    assert names == {f'masktrack-rcnn_mask-rcnn_{b}_fpn_8xb1-12e_youtubevis{y}.py'
                     for b in ('r50', 'r101', 'x101') for y in (2019, 2021)}


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_state_dict_keys_equal_mmdet_configs(config):
    """mmdet's released MaskTrack R-CNN checkpoints load: the state dicts have mmdet's keys and shapes."""
    ours = key_shapes(config)
    theirs = key_shapes(osp.join(MMDET_CONFIGS, osp.basename(config)))
    assert ours == theirs
    assert len(ours) == (364 if '_r50_' in config else 670)


def toy_models(unique_ids=True, **test_rcnn):
    """(ours, mmdet's MaskTrackRCNN) of the toy config with the same random weights, eval mode."""
    torch.manual_seed(0)
    ours = build_model(TOY, detector=dict(init_cfg=None, backbone=dict(init_cfg=None),
                                          test_cfg=dict(rcnn=test_rcnn)),
                       tracker=dict(unique_ids=unique_ids), test_cfg=dict(drop_empty=False)).eval()
    from mmengine.config import Config
    cfg = Config.fromfile(TOY).model
    cfg.detector.init_cfg = cfg.detector.backbone.init_cfg = None
    cfg.detector.test_cfg.rcnn.update(test_rcnn)
    theirs = MODELS.build(dict(type='MaskTrackRCNN', detector=cfg.detector, track_head=cfg.track_head,
                               tracker=mmdet_tracker(cfg.tracker))).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return ours, theirs


def mmdet_tracker(cfg):
    """mmdet's own tracker with the settings of our tracker config."""
    return dict(type='MaskTrackRCNNTracker', match_weights=cfg['match_weights'],
                num_frames_retain=cfg['num_frames_retain'])


def moving_video(num_frames=5, hw=(90, 120), seed=0):
    """(1, T, 3, H, W) normalised frames padded to 32 and their TrackDataSample: two textured squares moving."""
    g = torch.Generator().manual_seed(seed)
    h, w = hw
    frames = torch.randn(num_frames, 3, h, w, generator=g) * 0.3
    for t in range(num_frames):
        frames[t, :, 10:40, 8 + 4 * t:38 + 4 * t] += 2.0
        frames[t, 0, 50:80, 70 - 3 * t:100 - 3 * t] -= 2.0
    pad_h, pad_w = -(-h // 32) * 32, -(-w // 32) * 32
    inputs = torch.zeros(1, num_frames, 3, pad_h, pad_w)
    inputs[0, :, :, :h, :w] = frames
    ori = (2 * h, 2 * w)
    video = TrackDataSample()
    video.video_data_samples = [
        DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=ori, scale_factor=(0.5, 0.5), frame_id=t,
                                    pad_shape=(pad_h, pad_w), batch_input_shape=(pad_h, pad_w),
                                    video_length=num_frames))
        for t in range(num_frames)]
    return inputs, video


def predict_both(ours, theirs, num_frames=5):
    inputs, video = moving_video(num_frames)
    with torch.no_grad():
        got = ours.predict(inputs, [copy.deepcopy(video)])[0]
        want = theirs.predict(inputs, [copy.deepcopy(video)])[0]
    return [s.pred_track_instances for s in got], [s.pred_track_instances for s in want]


def test_tracks_equal_mmdet_predict():
    """With mmdet's assignment: frame by frame the same detections, masks, scores, labels and ids as mmdet's
    MaskTrackRCNN.predict."""
    # (random weights give mask logits just below 0: threshold them lower so that the masks compared are not empty)
    got, want = predict_both(*toy_models(unique_ids=False, mask_thr_binary=0.45))
    for a, b in zip(got, want):
        assert a.instances_id.tolist() == b.instances_id.tolist()
        torch.testing.assert_close(a.bboxes, b.bboxes)
        torch.testing.assert_close(a.scores, b.scores)
        assert a.labels.tolist() == b.labels.tolist()
        assert a.masks.shape[1:] == (180, 240) and torch.equal(a.masks, b.masks.bool())
    assert sum(len(b) for b in want) > 10  # random weights still detect: the comparison covers real matching
    assert any(b.masks.any() for b in want)


def test_unique_ids_drop_only_the_weaker_duplicates():
    """mmdet gives one id to two detections of a frame here; with unique_ids one keeps it, nothing else changes."""
    got, want = predict_both(*toy_models(unique_ids=True))
    dropped = 0
    for a, b in zip(got, want):
        ids = a.instances_id.tolist()
        assert len(ids) == len(set(ids))
        theirs = b.instances_id.tolist()
        dropped += len(theirs) - len(set(theirs))
        # every instance we keep is one of mmdet's, with its id and box
        for i, box in zip(ids, a.bboxes):
            assert any(j == i and torch.equal(box, other) for j, other in zip(theirs, b.bboxes))
        assert set(ids) == set(theirs)
    assert dropped > 0  # the case occurs in this video
    # the first frame has no tracks to share: identical
    assert got[0].instances_id.tolist() == want[0].instances_id.tolist()


def test_tracker_history_is_bounded():
    """mmdet's tracker keeps every frame of every live track; ours keeps ``history_len`` and tracks the same."""
    ours, _ = toy_models()
    inputs, video = moving_video(num_frames=8)
    meta = dict(video[0].metainfo)
    for history_len in (1, 3):
        for unique_ids in (False, True):
            cfg = dict(ours.tracker_cfg, history_len=history_len, unique_ids=unique_ids)
            tracker, reference = MODELS.build(cfg), MODELS.build(mmdet_tracker(cfg))
            with torch.no_grad():
                for t in range(8):
                    frame = inputs[0, t, :, :90, :120]
                    got = ours.track_frame(frame, t, meta, tracker, rescale=True)
                    padded = ours.pad_frame(frame)
                    sample = ours.frame_sample(frame, padded, t, meta)
                    feats = ours.detect(padded, sample, rescale=True)
                    want = reference.track(model=ours, feats=feats, data_sample=sample, rescale=True)
                    if not unique_ids:  # (with unique ids the tracks differ from frame 1 on)
                        assert got.instances_id.tolist() == want.instances_id.tolist()
                    else:  # one entry per frame
                        assert tracker.history_length() == min(t + 1, history_len)
                    assert tracker.history_length() <= history_len
            assert max(len(track['bboxes']) for track in reference.tracks.values()) > history_len
            assert 'masks' in reference.memo_items and 'masks' not in tracker.memo_items  # never read: not kept
    kept = MODELS.build(dict(ours.tracker_cfg, keep_masks=True))
    with torch.no_grad():
        ours.track_frame(inputs[0, 0, :, :90, :120], 0, meta, kept, rescale=True)
    assert kept.get('masks').shape[1:] == (180, 240)


def test_video_without_detections_gives_empty_frames():
    ours, _ = toy_models(score_thr=1.01)
    inputs, video = moving_video(num_frames=3)
    results = list(ours.predict_video(iter(inputs[0, :, :, :90, :120]), dict(video[0].metainfo)))
    assert [t for t, _ in results] == [0, 1, 2]
    for _, inst in results:
        assert len(inst) == 0 and inst.masks.shape == (0, 180, 240) and inst.masks.dtype == torch.bool


def test_each_video_gets_a_new_tracker():
    """Ids restart at 0 in each video: no state leaks from one video into the next."""
    ours, _ = toy_models()
    inputs, video = moving_video(num_frames=3)
    first = [r.instances_id.tolist() for _, r in ours.predict_video(iter(inputs[0, :, :, :90, :120]),
                                                                     dict(video[0].metainfo))]
    again = [r.instances_id.tolist() for _, r in ours.predict_video(iter(inputs[0, :, :, :90, :120]),
                                                                     dict(video[0].metainfo))]
    assert first == again and min(first[0]) == 0


def training_video(key: int, ref: int):
    """The 2 frames of :func:`moving_video` with the two squares as GT (ids 0, 1), ``key`` and ``ref`` frames."""
    inputs, video = moving_video(num_frames=2)
    boxes = torch.tensor([[8., 10., 38., 40.], [70., 50., 100., 80.]])
    for t, sample in enumerate(video):
        shifted = boxes + torch.tensor([[4. * t, 0, 4. * t, 0], [-3. * t, 0, -3. * t, 0]])
        masks = torch.zeros(2, 96, 128, dtype=torch.bool)
        for i, (x1, y1, x2, y2) in enumerate(shifted.long().tolist()):
            masks[i, y1:y2, x1:x2] = True
        sample.gt_instances = InstanceData(bboxes=shifted, labels=torch.tensor([1, 3]),
                                           masks=BitmapMasks(masks.numpy(), 96, 128),
                                           instances_ids=torch.tensor([0, 1]))
    video.set_metainfo(dict(key_frames_inds=[key], ref_frames_inds=[ref]))
    return inputs, video


def test_loss_on_key_and_reference_frame():
    """Training takes mmdet's loss: detector, RPN and tracking losses from a key and a reference frame."""
    ours, _ = toy_models()
    ours.train()
    inputs, video = training_video(key=0, ref=1)
    theirs = toy_models()[1].train()
    torch.manual_seed(3)  # the samplers draw: the same draws give the same losses
    losses = ours.loss(inputs[:, :2], [video])
    torch.manual_seed(3)
    mmdet_losses = theirs.loss(inputs[:, :2], [video])
    assert set(losses) == set(mmdet_losses)
    for name, value in losses.items():
        torch.testing.assert_close(value, mmdet_losses[name], msg=name)
    assert {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask', 'loss_match'} <= set(losses)
    total, log_vars = ours.parse_losses(losses)
    assert torch.isfinite(total) and log_vars['loss_match'] > 0
    total.backward()
    assert ours.track_head.embed_head.fcs[0].weight.grad.abs().sum() > 0  # the tracking loss trains its head


def test_metafile_lists_every_zoo_config_with_openmmlab_results():
    import yaml
    with open(osp.join(REPO, 'configs', 'masktrack_rcnn', 'metafile.yml')) as f:
        models = {m['Name']: m for m in yaml.safe_load(f)['Models']}
    assert sorted(name + '.py' for name in models) == [osp.basename(c) for c in CONFIGS]
    reported = {'r50': (30.2, 28.7), 'r101': (32.2, 31.3), 'x101': (34.7, 33.5)}
    for backbone, aps in reported.items():
        for year, ap in zip((2019, 2021), aps):
            model = models[f'masktrack-rcnn_mask-rcnn_{backbone}_fpn_8xb1-12e_youtubevis{year}']
            assert model['Results'][0]['Metrics']['AP'] == ap
            assert model['Config'] == f'configs/masktrack_rcnn/{model["Name"]}.py'
            assert f'masktrack_rcnn_{backbone}_fpn_12e_youtubevis{year}' in model['Weights']


def test_checkpoint_of_another_model_is_named():
    """A bare COCO Mask R-CNN (the detector's keys without ``detector.``) is not a MaskTrack R-CNN checkpoint."""
    from mmseqformer.apis.checkpoint import CheckpointError, check_state_fits
    ours, _ = toy_models()
    detector_only = {k[len('detector.'):]: v for k, v in ours.state_dict().items() if k.startswith('detector.')}
    with pytest.raises(CheckpointError, match='a checkpoint of another model') as err:
        check_state_fits(ours, detector_only, 'mask_rcnn.pth')
    assert '\n' not in str(err.value)
    check_state_fits(ours, ours.state_dict(), 'masktrack.pth')  # its own state fits
