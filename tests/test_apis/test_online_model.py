"""The video interface hosts an online model: a per-frame detector stub plus an IoU tracker, registered here only,
runs through ``inference_video``, the demo and the benchmark with no model-specific code outside this file."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures.mask import mask2bbox
from mmengine.structures import InstanceData
from scipy import ndimage

from mmseqformer.apis import inference_video, init_model
from mmseqformer.models.task_modules.tracking import track_iou
from mmseqformer.models.vis import OnlineVISModel

from ..test_tools.tool_helpers import load_module
from .conftest import REPO


@MODELS.register_module(force=True)
class OnlineBlobTracker(OnlineVISModel):
    """Detector stub: bright connected regions (a fixed 1x1 conv on the frame); tracker: greedy IoU matching with
    the previous frame's instances (the only state it keeps: memory does not grow with the video)."""

    def __init__(self, iou_thr: float = 0.3, data_preprocessor=None, test_cfg=None, init_cfg=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.detector = torch.nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.detector.weight.fill_(1 / 3)
            self.detector.bias.fill_(-128.0)
        self.iou_thr = iou_thr
        self.test_cfg = test_cfg or {}

    def init_video_state(self, meta):
        return dict(masks=None, ids=[], next_id=0)

    def detect(self, frame):
        """(3, h, w) -> (k, h, w) bool masks of the bright connected regions."""
        fg = (self.detector(frame[None])[0, 0] > 0).cpu().numpy()
        labels, num = ndimage.label(fg)
        return torch.from_numpy(np.stack([labels == i for i in range(1, num + 1)]) if num else
                                np.zeros((0, *fg.shape), bool))

    def match_tracks(self, masks, state):
        """Ids for ``masks`` (k, h, w): the previous instance with IoU >= ``iou_thr``, else a new id."""
        prev = state['masks']
        iou = track_iou(masks[:, None], prev[:, None]) if prev is not None and len(masks) and len(prev) else None
        ids = []
        for i in range(len(masks)):
            best = -1 if iou is None else int(iou[i].argmax())
            if best >= 0 and iou[i, best] >= self.iou_thr and state['ids'][best] not in ids:
                ids.append(state['ids'][best])
            else:
                ids.append(state['next_id'])
                state['next_id'] += 1
        state['masks'], state['ids'] = masks, ids
        return torch.tensor(ids, dtype=torch.long)

    def track_frame(self, frame, frame_id, meta, state, rescale):
        masks = self.detect(frame)
        ids = self.match_tracks(masks, state)
        out_hw = tuple(meta['ori_shape'][:2]) if rescale else tuple(meta['img_shape'][:2])
        if masks.shape[1:] != out_hw:
            masks = F.interpolate(masks[None].float(), size=out_hw, mode='nearest')[0] > 0.5
        return InstanceData(masks=masks, bboxes=mask2bbox(masks), scores=torch.ones(len(masks)),
                            labels=torch.zeros(len(masks), dtype=torch.long), instances_id=ids)

    def benchmark_stages(self):
        return dict(detector=[(self.detector, 'forward')], tracker=[(self, 'match_tracks')])

    def loss(self, inputs, data_samples, **kwargs):
        raise NotImplementedError


def moving_square_frames(num_frames=12, hw=(64, 96)):
    """BGR frames: a white square moving right by 2 px a frame and a static white bar, on black."""
    frames = []
    for t in range(num_frames):
        frame = np.zeros((*hw, 3), np.uint8)
        frame[20:40, 10 + 2 * t:30 + 2 * t] = 255
        frame[50:58, 60:90] = 255
        frames.append(frame)
    return frames


@pytest.fixture(scope='module')
def stub_files(tmp_path_factory):
    """(config path, checkpoint path) of the stub: classes from the config's dataset meta, no resize."""
    tmp = tmp_path_factory.mktemp('online_stub')
    config = tmp / 'online_blob_tracker.py'
    config.write_text("model = dict(type='OnlineBlobTracker', iou_thr=0.3)\n"
                      "test_dataloader = dict(dataset=dict(metainfo=dict(classes=('blob',)), pipeline=[]))\n"
                      "visualizer = dict(type='VISLocalVisualizer', alpha=0.5, line_width=2)\n")
    checkpoint = tmp / 'online_blob_tracker.pth'
    torch.save(dict(state_dict=OnlineBlobTracker().state_dict()), checkpoint)
    return str(config), str(checkpoint)


def test_inference_video_tracks_with_the_online_model(stub_files):
    model = init_model(*stub_files)
    assert model.dataset_meta['classes'] == ('blob',)
    frames = moving_square_frames()
    result = inference_video(model, frames)
    assert len(result) == len(frames)
    for t, sample in enumerate(result):
        inst = sample.pred_track_instances
        assert inst.masks.shape == (2, 64, 96) and inst.masks.dtype == torch.bool
        square = int(inst.masks[:, 30, 20 + 2 * t].float().argmax())
        assert inst.masks[square, 25, 15 + 2 * t]  # the square's instance covers the square
        assert sorted(inst.instances_id.tolist()) == [0, 1]  # both keep their ids through the video
        assert inst.instances_id[square] == result[0].pred_track_instances.instances_id[
            int(result[0].pred_track_instances.masks[:, 30, 20].float().argmax())]


def test_demo_runs_the_online_model(stub_files, tmp_path):
    demo = load_module(osp.join(REPO, 'demo', 'video_demo.py'))
    folder = tmp_path / 'frames'
    folder.mkdir()
    for t, frame in enumerate(moving_square_frames()):
        cv2.imwrite(str(folder / f'{t:03d}.png'), frame)
    out_json = tmp_path / 'out.json'
    code = demo.main([str(folder), *stub_files, '--out', str(tmp_path / 'out.mp4'), '--out-json', str(out_json)])
    assert code == 0
    results = json.loads(out_json.read_text())
    assert len(results) == 2 and {r['category_id'] for r in results} == {1}
    assert all(len(r['segmentations']) == 12 and all(r['segmentations']) for r in results)
    assert osp.getsize(tmp_path / 'out.mp4') > 0


def test_benchmark_times_the_online_model_stages(stub_files, tmp_path):
    bench = load_module(osp.join(REPO, 'tools', 'analysis_tools', 'benchmark.py'))
    out = tmp_path / 'bench.json'
    code = bench.main([stub_files[0], stub_files[1], '--frames', '4', '--short-side', '64', '--repeat', '1',
                       '--warmup', '0', '--json', str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result['model'] == 'OnlineBlobTracker'
    assert list(result['stages']) == ['detector', 'tracker', 'postprocess', 'other']
    assert result['stages']['detector'] > 0 and result['stages']['tracker'] > 0
