"""The compatibility shims: resume on torch >= 2.6, real YouTube-VIS evaluation on numpy 2."""
import copy
import pickle
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS
from mmengine.evaluator import Evaluator
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch import nn

import mmseqformer  # noqa: F401  (installs the shims)


class TinyRegressor(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='loss'):
        out = self.fc(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - targets) ** 2).mean())
        return out


def _runner(work_dir, resume):
    data = [(torch.tensor([float(i), 1.0]), torch.tensor(2.0 * i)) for i in range(8)]
    return Runner(
        model=TinyRegressor(), work_dir=work_dir,
        train_dataloader=dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2,
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=4 if resume else 2),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2)),
        resume=resume, default_scope='mmengine', randomness=dict(seed=0))


def test_resume_training_checkpoint(tmp_path):
    work_dir = str(tmp_path)
    _runner(work_dir, resume=False).train()
    ckpt = osp.join(work_dir, 'iter_2.pth')
    # What torch >= 2.6 does by default with mmengine's own checkpoint: refuse its pickled metadata.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, weights_only=True)
    runner = _runner(work_dir, resume=True)
    runner.train()
    assert runner.iter == 4
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))


def _gt_as_predictions(sample, shuffle_ids=False):
    """Copy each frame's ground truth into pred_track_instances (perfect predictions)."""
    sample = copy.deepcopy(sample)
    for i, frame in enumerate(sample.video_data_samples):
        gt = frame.gt_instances
        ids = gt.instances_ids.clone()
        if shuffle_ids and len(ids) > 1 and i % 2:
            ids = ids.roll(1)  # swap identities on every other frame
        pred = gt.new(masks=torch.from_numpy(gt.masks.to_ndarray()).bool(), bboxes=gt.bboxes.clone(),
                      labels=gt.labels.clone(), scores=torch.ones(len(ids)), instances_id=ids)
        frame.pred_track_instances = pred
    return sample


@pytest.fixture(scope='module')
def toy_valid_samples(toy_vis_small):
    init_default_scope('mmdet')
    ds = DATASETS.build(dict(
        type='ToyVISDataset', data_root=toy_vis_small, ann_file='annotations/toy_vis_valid.json',
        data_prefix=dict(img_path='valid/JPEGImages'), test_mode=True,
        pipeline=[dict(type='TransformBroadcaster', transforms=[
            dict(type='LoadImageFromFile'), dict(type='LoadTrackAnnotations', with_mask=True)]),
            dict(type='PackTrackInputs')]))
    return [ds[i]['data_samples'] for i in range(len(ds))]


def _evaluate(samples, evaluator=None):
    if evaluator is None:
        evaluator = Evaluator(dict(type='YouTubeVISMetric', metric_items=['mAP', 'mAP_50', 'AR@1', 'AR@10']))
        evaluator.dataset_meta = dict(classes=mmseqformer.datasets.TOY_VIS_CLASSES)
    evaluator.process(samples)
    return evaluator.evaluate(len(samples))


def test_ytvis_evaluation_runs_on_numpy2(toy_valid_samples):
    assert not hasattr(np, 'float')  # numpy >= 1.24: the alias the vendored evaluator used is gone
    metrics = _evaluate([_gt_as_predictions(s) for s in toy_valid_samples])
    assert metrics['youtube_vis/segm_mAP'] == pytest.approx(1.0)
    assert metrics['youtube_vis/segm_mAP_50'] == pytest.approx(1.0)


def test_swapped_identities_lower_ap(toy_valid_samples):
    perfect = _evaluate([_gt_as_predictions(s) for s in toy_valid_samples])
    swapped = _evaluate([_gt_as_predictions(s, shuffle_ids=True) for s in toy_valid_samples])
    assert swapped['youtube_vis/segm_mAP'] < perfect['youtube_vis/segm_mAP'] - 0.05


def test_metric_evaluates_twice_in_one_process(toy_valid_samples):
    """Periodic validation reuses one metric object; mmdet's leaves it unusable after evaluate()."""
    evaluator = Evaluator(dict(type='YouTubeVISMetric', metric_items=['mAP']))
    evaluator.dataset_meta = dict(classes=mmseqformer.datasets.TOY_VIS_CLASSES)
    perfect = [_gt_as_predictions(s) for s in toy_valid_samples]
    first = _evaluate(perfect, evaluator)
    second = _evaluate(perfect, evaluator)
    assert first == second and second['youtube_vis/segm_mAP'] == pytest.approx(1.0)


def test_test_metrics_json_written_by_the_main_process_only(monkeypatch):
    from mmengine.hooks import LoggerHook

    from mmseqformer.utils import compat
    monkeypatch.setattr(compat, 'is_main_process', lambda: False)
    # any access to the runner (formatting the log, dumping the json) would fail on this stand-in
    assert LoggerHook().after_test_epoch(object(), metrics={'a': 1.0}) is None
    monkeypatch.setattr(compat, 'is_main_process', lambda: True)
    with pytest.raises(AttributeError):
        LoggerHook().after_test_epoch(object(), metrics={'a': 1.0})
