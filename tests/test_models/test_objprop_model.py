"""ObjPropMaskTrackRCNN: the configs' parameters (MaskTrack R-CNN's + the propagation head, the variants' extras),
training losses (MaskTrack R-CNN's + propagation; the attention neck trains through the RPN), and inference:
propagation off is MaskTrack R-CNN's tracking, propagation on adds only missed ids, the test-time neck."""
import glob
import os.path as osp

import pytest
import torch

from ..conftest import REPO
from .conftest import build_model
from .test_masktrack_rcnn import key_shapes, moving_video, training_video

OBJPROP = osp.join(REPO, 'configs', 'objprop')
MASKTRACK_R50 = osp.join(REPO, 'configs', 'masktrack_rcnn',
                         'masktrack-rcnn_mask-rcnn_r50_fpn_8xb1-12e_youtubevis2019.py')
TOY = osp.join(OBJPROP, 'objprop_mbv2-toy_1xb1-2000i_toy.py')
MASKTRACK_TOY = osp.join(REPO, 'configs', 'masktrack_rcnn', 'masktrack-rcnn_mbv2-toy_1xb1-6000i_toy.py')


@pytest.mark.parametrize('config', sorted(glob.glob(osp.join(OBJPROP, 'objprop_masktrack-rcnn_*.py'))),
                         ids=osp.basename)
def test_configs_are_masktrack_plus_the_official_head(config):
    """MaskTrack R-CNN's 364 keys + the 28 official prop_head keys (40 classes); the variants add theirs."""
    ours, masktrack = key_shapes(config), key_shapes(MASKTRACK_R50)
    extra = {k: v for k, v in ours.items() if k not in masktrack}
    assert {k: ours[k] for k in masktrack} == masktrack
    heads = {k for k in extra if k.startswith('prop_head.') and k != 'prop_head.affinity_weight'}
    assert len(heads) == 28 and extra['prop_head.conv_logits.weight'] == (40, 256, 1, 1)
    assert extra['prop_head.convs.0.weight'] == (256, 1024, 1, 1)
    variant = set(extra) - heads
    if '_attn-neck_' in config:
        assert variant == {'neck_attn.gamma', 'neck_attn.conv1.weight', 'neck_attn.conv1.bias',
                           'neck_attn.conv2.weight', 'neck_attn.conv2.bias'}
    elif '_weighted-affinity_' in config:
        assert variant == {'prop_head.affinity_weight'} and extra['prop_head.affinity_weight'] == (256, 256)
    else:
        assert variant == set()


def toy_model(**overrides):
    torch.manual_seed(0)
    overrides['test_cfg'] = dict(drop_empty=False, **overrides.get('test_cfg', {}))
    overrides['detector'] = dict(backbone=dict(init_cfg=None), **overrides.get('detector', {}))
    return build_model(TOY, **overrides)


def test_loss_adds_propagation_to_masktrack_losses():
    model = toy_model().train()
    inputs, video = training_video(key=1, ref=0)
    losses = model.loss(inputs, [video])
    assert {'loss_rpn_cls', 'loss_cls', 'loss_mask', 'loss_match', 'loss_propattn', 'loss_propmask',
            'attn_propacc'} <= set(losses)
    total, _ = model.parse_losses(losses)
    total.backward()
    assert model.prop_head.conv_logits.weight.grad.abs().sum() > 0
    assert model.prop_head.convs[0].weight.grad.abs().sum() > 0


def test_attention_neck_trains_through_the_rpn_only():
    model = toy_model(neck_attn=dict(type='InterFrameAttnNeck', channels=64)).train()
    inputs, video = training_video(key=1, ref=0)
    losses = model.loss(inputs, [video])
    rpn = summed(losses, lambda k: k.startswith('loss_rpn'))
    rpn.backward(retain_graph=True)
    assert model.neck_attn.conv1.weight.grad.abs().sum() > 0 and model.neck_attn.gamma.grad.abs() > 0
    model.zero_grad()
    other = summed(losses, lambda k: k.startswith('loss') and not k.startswith('loss_rpn'))
    other.backward()
    assert model.neck_attn.conv1.weight.grad is None or not model.neck_attn.conv1.weight.grad.any()


def summed(losses, pick):
    """The sum of the picked losses (mmdet's RPN gives one per FPN level)."""
    values = [v for k, v in losses.items() if pick(k)]
    return sum(sum(v) if isinstance(v, list) else v for v in values)


def track(model, num_frames=6):
    inputs, video = moving_video(num_frames=num_frames)
    meta = dict(video[0].metainfo)
    return [r for _, r in model.predict_video(iter(inputs[0, :, :, :90, :120]), meta)]


def test_propagation_off_is_masktrack_tracking():
    """The released behaviour: MaskTrack R-CNN (with ObjProp's embedding head options) on the same weights."""
    objprop = toy_model(tracker=dict(propagate=False)).eval()
    torch.manual_seed(0)
    masktrack = build_model(MASKTRACK_TOY, detector=dict(backbone=dict(init_cfg=None)), test_cfg=dict(drop_empty=False),
                            track_head=dict(embed_head=dict(type='ObjPropRoIEmbedHead', last_fc_relu=False,
                                                            test_similarity='cosine'))).eval()
    state = {k: v for k, v in objprop.state_dict().items() if not k.startswith('prop_head.')}
    masktrack.load_state_dict(state, strict=True)
    got, want = track(objprop), track(masktrack)
    assert sum(len(r) for r in want) > 0
    for a, b in zip(got, want):
        assert a.instances_id.tolist() == b.instances_id.tolist() and torch.equal(a.masks, b.masks)


def test_propagation_adds_only_missed_ids_with_masks():
    off = track(toy_model(tracker=dict(propagate=False)).eval())
    on = track(toy_model(tracker=dict(propagate=True, mask_thr=0.0)).eval())  # threshold 0: every mask non-empty
    seen = set()
    added = 0
    for a, b in zip(on, off):
        n = len(b)
        assert a.instances_id[:n].tolist() == b.instances_id.tolist() and torch.equal(a.masks[:n], b.masks)
        extra = a.instances_id[n:].tolist()
        assert set(extra) <= seen and not set(extra) & set(b.instances_id.tolist())
        assert len(extra) <= 10 and a.masks[n:].flatten(1).any(dim=1).all()
        assert a.masks.shape[1:] == (180, 240)
        added += len(extra)
        seen |= set(a.instances_id.tolist())
    assert added > 0  # random weights miss ids from frame to frame: propagation filled some in


def test_test_time_neck_attends_to_the_previous_frame():
    neck = dict(type='InterFrameAttnNeck', channels=64)
    plain = track(toy_model(neck_attn=neck).eval())
    with_neck = toy_model(neck_attn=neck, test_cfg=dict(neck_attn=True)).eval()
    calls = []
    original = with_neck.neck_attn.forward
    with_neck.neck_attn.forward = lambda cur, ref: calls.append((cur[0].data_ptr(), ref[0].data_ptr())) or \
        original(cur, ref)
    attended = track(with_neck)
    assert len(calls) == len(attended) == len(plain)
    assert calls[0][0] == calls[0][1]  # the first frame attends to itself
    assert all(ref != cur for cur, ref in calls[1:])
    with pytest.raises(ValueError, match='neck_attn'):
        toy_model(test_cfg=dict(neck_attn=True))


def test_recipe_and_test_settings_are_objprops():
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(OBJPROP, 'objprop_masktrack-rcnn_r50_fpn_8xb4-12e_youtubevis2019.py'))
    assert cfg.optim_wrapper.optimizer.lr == 0.005 and cfg.train_dataloader.batch_size == 4
    assert cfg.load_from.startswith('data/pretrained/masktrack_rcnn_r50') and cfg.model.detector.init_cfg is None
    assert cfg.train_cfg.max_epochs == 12 and cfg.param_scheduler[1].milestones == [8, 11]
    test = cfg.model.detector.test_cfg
    assert (test.rpn.nms_pre, test.rpn.max_per_img, test.rcnn.score_thr, test.rcnn.max_per_img) == (1000, 1000, 0.001,
                                                                                                     100)
    embed = cfg.model.track_head.embed_head
    assert (embed.type, embed.last_fc_relu, embed.test_similarity) == ('ObjPropRoIEmbedHead', False, 'cosine')
    tracker = cfg.model.tracker
    assert (tracker.type, tracker.propagate, tracker.prop_history, tracker.max_prop_ids, tracker.mask_thr) == (
        'ObjPropTracker', True, 24, 10, 0.3)


def test_metafile_lists_every_objprop_config_but_the_variants():
    import yaml
    with open(osp.join(OBJPROP, 'metafile.yml')) as f:
        names = {m['Name'] for m in yaml.safe_load(f)['Models']}
    configs = {osp.basename(p)[:-3] for p in glob.glob(osp.join(OBJPROP, '*.py'))}
    variants = {c for c in configs if any(v in c for v in ('_attn-neck_', '_weighted-affinity_', '_ordered-pairs_'))}
    assert names == configs - variants


def test_video_without_detections_gives_empty_frames():
    model = toy_model(detector=dict(test_cfg=dict(rcnn=dict(score_thr=1.1)))).eval()
    results = track(model, num_frames=3)
    assert [len(r) for r in results] == [0, 0, 0]
    assert all(r.masks.shape[1:] == (180, 240) for r in results)
