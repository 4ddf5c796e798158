"""tools/test.py and demo/video_demo.py with a VisTR config (issue #18 item 5 and its bad input).

The config is the toy VisTR's (MobileNetV2, width 192) set to clips of 6 frames x 5 queries and test-time windows of
6 every 3, with the backbone's pretrained init dropped, so nothing is read from disk; the checkpoint holds its random
weights (seeded) with a class branch that gives the slots classes (random VisTR weights vote "absent" everywhere).
The successful test.py run and the checkpoint rejections of test.py are real processes; the demo runs in-process.
"""
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from tool_helpers import REPO, load_module, stderr_lines

TOY_VISTR = osp.join(REPO, 'configs', 'vistr', 'vistr_mbv2-toy_1xb1-8500i_toy.py')
SEQFORMER_CHECKPOINT = osp.join(REPO, 'demo', 'checkpoints', 'seqformer_mbv2-toy_toy.pth')
NUM_FRAMES, QUERIES = 6, 5
VIDEO_HW = (96, 128)
METRICS = ['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR@1', 'AR@10']
ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def run_tool(script, *args):
    return subprocess.run([sys.executable, osp.join(REPO, script), *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=900, env=ENV)


def assert_rejected(proc, prefix, *words):
    lines = stderr_lines(proc)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert lines[0].startswith(prefix), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope='module')
def vistr(tmp_path_factory):
    """(config, checkpoint, config without a test-time resize) in a module folder."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmseqformer  # noqa: F401

    folder = tmp_path_factory.mktemp('vistr')
    config = folder / 'vistr_mbv2-toy_random.py'
    config.write_text(f'_base_ = {TOY_VISTR!r}\nmodel = dict(backbone=dict(init_cfg=None), num_frames={NUM_FRAMES}, '
                      f'queries_per_frame={QUERIES}, test_cfg=dict(window_size={NUM_FRAMES}, window_stride=3))\n')
    no_resize = folder / 'vistr_mbv2-toy_random_no-resize.py'
    no_resize.write_text(
        f'_base_ = {str(config)!r}\n'
        "test_pipeline = [dict(type='TransformBroadcaster', transforms=[dict(type='LoadImageFromFile'),\n"
        "    dict(type='LoadTrackAnnotations', with_mask=True)]), dict(type='PackTrackInputs')]\n"
        'test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n')
    cfg = Config.fromfile(str(config))
    assert (cfg.model.num_frames, cfg.model.queries_per_frame) == (NUM_FRAMES, QUERIES)
    assert cfg.model.test_cfg.window_size == NUM_FRAMES and cfg.model.test_cfg.window_stride == 3
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    g = torch.Generator().manual_seed(1)
    fc = model.track_head.fc_cls
    with torch.no_grad():
        fc.weight.copy_(0.3 * torch.randn(fc.weight.shape, generator=g))
        fc.bias.zero_()
        fc.bias[0] = -3.0  # the "absent frame" column
    checkpoint = folder / 'vistr_random.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return str(config), str(checkpoint), str(no_resize)


def write_video(path, num_frames, hw=VIDEO_HW):
    """An mp4 of two moving shapes."""
    h, w = hw
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 10, (w, h))
    for t in range(num_frames):
        frame = np.full((h, w, 3), 40, np.uint8)
        cv2.circle(frame, (w // 6 + 4 * t, h // 2), max(2, h // 6), (0, 200, 255), -1)
        cv2.rectangle(frame, (w * 5 // 8, h // 10 + t), (w * 7 // 8, h // 10 + t + h // 3), (255, 80, 0), -1)
        writer.write(frame)
    writer.release()
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == num_frames
    cap.release()
    return str(path)


@pytest.fixture(scope='module')
def demo():
    return load_module(osp.join(REPO, 'demo', 'video_demo.py'))


# -- tools/test.py --------------------------------------------------------------------------------------------

def test_test_tool_gives_youtube_vis_metrics(vistr, toy_vis_small, tmp_path):
    """One toy valid video (37 frames: windows of 6 every 3, linked): segm mAP / AR in the log and the metrics
    json; the dumped predictions have one segmentation per frame."""
    config, checkpoint, _ = vistr
    work_dir, out = tmp_path / 'work', tmp_path / 'preds.pkl'
    proc = run_tool('tools/test.py', config, checkpoint, '--work-dir', work_dir, '--out', out, '--cfg-options',
                    f'test_dataloader.dataset.data_root={toy_vis_small}/', 'test_dataloader.dataset.indices=1')
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert f'Load checkpoint from {checkpoint}' in proc.stdout + proc.stderr
    (run_dir,) = [d for d in work_dir.iterdir() if d.is_dir()]
    metrics = json.loads((run_dir / f'{run_dir.name}.json').read_text())
    for name in METRICS:
        value = metrics[f'youtube_vis/segm_{name}']
        assert value == -1 or 0 <= value <= 1, (name, value)
    assert 'youtube_vis/segm_mAP' in proc.stdout and 'youtube_vis/segm_AR@10' in proc.stdout
    with open(osp.join(toy_vis_small, 'annotations', 'toy_vis_valid_ytvis.json')) as f:
        video = json.load(f)['videos'][0]
    assert video['length'] > 2 * NUM_FRAMES
    with open(out, 'rb') as f:
        (dump,) = pickle.load(f)
    assert dump['video_id'] == video['id'] and len(dump['frames']) == video['length']
    assert 0 < len(dump['official']) <= 10
    for result in dump['official']:
        assert len(result['segmentations']) == video['length']
        assert 1 <= result['category_id'] <= 6 and 0 < result['score'] <= 1


@pytest.mark.parametrize('case', ['another model', 'query count'])
def test_test_tool_rejects_checkpoints_that_are_not_this_vistr(vistr, toy_vis_small, tmp_path, case):
    config, checkpoint, _ = vistr
    out = tmp_path / 'preds.pkl'
    args = ['--work-dir', tmp_path / 'work', '--out', out, '--cfg-options',
            f'test_dataloader.dataset.data_root={toy_vis_small}/']
    if case == 'another model':
        proc = run_tool('tools/test.py', config, SEQFORMER_CHECKPOINT, *args)
        assert_rejected(proc, 'test.py: error: ', f'{SEQFORMER_CHECKPOINT}: a checkpoint of another model')
    else:
        proc = run_tool('tools/test.py', config, checkpoint, *args, 'model.num_frames=4',
                        'model.test_cfg.window_size=4')
        assert_rejected(proc, 'test.py: error: ', f'{checkpoint}: holds {NUM_FRAMES * QUERIES} queries',
                        f'num_frames x queries_per_frame = 4 x {QUERIES} = {4 * QUERIES}')
    assert not out.exists()
    # checked before the runner is built: not even its log folder is made
    assert not (tmp_path / 'work').exists()


# -- demo/video_demo.py ---------------------------------------------------------------------------------------

def test_demo_on_a_video_longer_than_the_clip(demo, vistr, tmp_path, monkeypatch, capsys):
    """3 x num_frames frames: decoded in windows of 6 every 3; the drawn mp4 has every frame, the json one
    segmentation per frame for each instance."""
    from mmseqformer.models.vis import VisTR
    config, checkpoint, _ = vistr
    length = 3 * NUM_FRAMES
    video = write_video(tmp_path / 'long.mp4', length)
    decoded = []
    decode_clip = VisTR.decode_clip

    def recording_decode_clip(self, enc, meta):
        decoded.append(enc['src'].shape[0])
        return decode_clip(self, enc, meta)

    monkeypatch.setattr(VisTR, 'decode_clip', recording_decode_clip)
    out, out_json = tmp_path / 'out.mp4', tmp_path / 'out.json'
    assert demo.main([video, config, checkpoint, '--out', str(out), '--out-json', str(out_json)]) == 0
    assert decoded == [NUM_FRAMES] * 5  # windows start at 0, 3, 6, 9, 12
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith(f'{length} frames, ') and summary.endswith(f'-> {out}, {out_json} '
                                                                         '(imageio-ffmpeg (libx264))'), summary
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == length
    assert (cap.get(cv2.CAP_PROP_FRAME_HEIGHT), cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == VIDEO_HW
    cap.release()
    results = json.loads(out_json.read_text())
    assert 0 < len(results) <= 10
    for r in results:
        assert set(r) == {'video_id', 'score', 'category_id', 'segmentations'} and 0 < r['score'] <= 1
        assert len(r['segmentations']) == length
        assert all(s['size'] == list(VIDEO_HW) for s in r['segmentations'])
    assert sorted(os.listdir(tmp_path)) == ['long.mp4', 'out.json', 'out.mp4']


def test_demo_bad_input_one_line_exit_2(demo, vistr, tmp_path, capsys):
    """A checkpoint of another model, a VisTR checkpoint whose query count does not fit, frames too small for the
    mask head (the toy config's test pipeline upscales frames to short side 192, so this needs a config without a
    test-time resize): one error line, exit 2, nothing written."""
    config, checkpoint, no_resize = vistr
    video = write_video(tmp_path / 'long.mp4', 3 * NUM_FRAMES)
    tiny = write_video(tmp_path / 'tiny.mp4', 3, hw=(16, 24))
    outputs = ['--out', str(tmp_path / 'o.mp4'), '--out-json', str(tmp_path / 'o.json')]
    cases = {
        'another model': ([video, config, SEQFORMER_CHECKPOINT, *outputs],
                          f'{SEQFORMER_CHECKPOINT}: a checkpoint of another model: it has '),
        'query count': ([video, config, checkpoint, *outputs, '--cfg-options', 'model.num_frames=4',
                         'model.test_cfg.window_size=4'],
                        f'{checkpoint}: holds {NUM_FRAMES * QUERIES} queries, but the model needs num_frames x '
                        f'queries_per_frame = 4 x {QUERIES} = {4 * QUERIES}'),
        'frames too small': ([tiny, no_resize, checkpoint, *outputs],
                             'frames are 16x24 at network size; each side must be in [32, 8192] pixels'),
    }
    before = sorted(os.listdir(tmp_path))
    for name, (argv, message) in cases.items():
        code = demo.main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, name
        assert len(err) == 1 and err[0].startswith('error: ') and message in err[0], (name, err)
        assert sorted(os.listdir(tmp_path)) == before, name
    # with the toy config's own test pipeline the tiny video is upscaled and segmented
    assert demo.main([tiny, config, checkpoint, '--no-video', '--out-json', str(tmp_path / 'tiny.json')]) == 0
    assert all(len(r['segmentations']) == 3 for r in json.loads((tmp_path / 'tiny.json').read_text()))
