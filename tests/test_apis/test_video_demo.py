"""demo/video_demo.py: outputs on the bundled toy clip (equal to the results stored before the model-owned inference
refactor, H.264 video), the same tracks as tools/test.py, config options and visualizer, one-line errors on bad input.
"""
import json
import os
import os.path as osp
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_util

from mmseqformer.evaluation.ytvis_official_eval import check_ytvis_results, evaluate_ytvis_results

from ..test_tools.tool_helpers import load_module
from .conftest import REPO, TOY_CHECKPOINT, TOY_CONFIG

DEMO = osp.join(REPO, 'demo', 'video_demo.py')
TEST_TOOL = osp.join(REPO, 'tools', 'test.py')
TOY_CLIP = osp.join(REPO, 'demo', 'data', 'toy_clip.mp4')
R50_CONFIG = osp.join(REPO, 'configs', 'seqformer', 'seqformer_r50_8xb2-12e_youtubevis2019.py')
# `make demo`'s json of demo/data/toy_clip.mp4 at commit 152cd05, before the models owned their video inference
STORED_RESULTS = osp.join(REPO, 'tests', 'data', 'toy_clip_demo_results_152cd05.json')
ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def _run(*args, script=DEMO):
    return subprocess.run([sys.executable, script, *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          timeout=900, env=ENV)


def _assert_same_tracks(got, expected, score_tol):
    """Same tracks in the same order: labels, RLE of every frame, scores within ``score_tol``."""
    assert len(got) == len(expected) > 0
    for k, (a, b) in enumerate(zip(got, expected)):
        assert a['category_id'] == b['category_id'], k
        assert a['segmentations'] == b['segmentations'], k
        assert a['score'] == pytest.approx(b['score'], abs=score_tol), k


@pytest.fixture(scope='module')
def demo():
    return load_module(DEMO)


@pytest.fixture(scope='module')
def toy_clip_run(tmp_path_factory):
    """`make demo`'s command (default options: chunk size 8, the toy config's windows) plus --out-frames, run as
    a process; (process, video, json, frames folder)."""
    out_dir = tmp_path_factory.mktemp('demo_out')
    out, out_json, out_frames = out_dir / 'toy.mp4', out_dir / 'toy.json', out_dir / 'frames'
    proc = _run(TOY_CLIP, '--out', out, '--out-json', out_json, '--out-frames', out_frames)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, out, out_json, out_frames


def test_toy_clip_outputs(toy_clip_run, toy_vis_default):
    _, out, out_json, out_frames = toy_clip_run
    src = cv2.VideoCapture(TOY_CLIP)
    size = (src.get(cv2.CAP_PROP_FRAME_WIDTH), src.get(cv2.CAP_PROP_FRAME_HEIGHT))
    src.release()
    cap = cv2.VideoCapture(str(out))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == size
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 37
    cap.release()
    assert sorted(os.listdir(out_frames)) == [f'{i:06d}.jpg' for i in range(37)]
    assert not [n for n in os.listdir(out.parent) if '.partial' in n]
    results = json.loads(out_json.read_text())
    assert 0 < len(results) <= 10
    for r in results:
        assert set(r) == {'video_id', 'score', 'category_id', 'segmentations'} and len(r['segmentations']) == 37
        assert r['segmentations'][0]['size'] == [int(size[1]), int(size[0])]
    # the clip is toy valid video valid_0003: the shipped toy model must find its instances
    with open(osp.join(toy_vis_default, 'annotations', 'toy_vis_valid_ytvis.json')) as f:
        gt = json.load(f)
    video = next(v for v in gt['videos'] if v['file_names'][0].startswith('valid_0003/'))
    gt['annotations'] = [dict(a, video_id=1) for a in gt['annotations'] if a['video_id'] == video['id']]
    gt['videos'] = [dict(video, id=1)]
    metrics = evaluate_ytvis_results(gt, results)
    assert metrics['AP50'] >= 0.5, metrics


def test_results_equal_those_stored_before_the_refactor(toy_clip_run):
    """`make demo`'s json is what it was at 152cd05 (demo-side windows): same tracks, RLEs and labels."""
    _, _, out_json, _ = toy_clip_run
    with open(STORED_RESULTS) as f:
        stored = json.load(f)
    results = json.loads(out_json.read_text())
    assert [r['video_id'] for r in results] == [r['video_id'] for r in stored]
    _assert_same_tracks(results, stored, score_tol=1e-6)


def test_mp4_is_h264_yuv420p(toy_clip_run):
    """Read back with imageio-ffmpeg, which wrote it; the summary line names the encoder."""
    from mmseqformer.visualization import read_video_info
    proc, out, out_json, out_frames = toy_clip_run
    info = read_video_info(out)
    assert (info['codec'], info['pix_fmt']) == ('h264', 'yuv420p'), info
    assert info['frames'] == 37 and info['fps'] == pytest.approx(10.0)
    assert info['size'] == (320, 192) and info['size'][0] % 2 == 0 == info['size'][1] % 2
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith('37 frames, 10 instances'), last
    assert last.endswith(f'-> {out}, {out_json}, {out_frames} (imageio-ffmpeg (libx264))'), last


def test_topk_and_chunk_size(toy_clip_run, tmp_path):
    """--topk 3 reaches the model (test_cfg.max_per_video): the 3 best tracks of the default run (the greedy track
    NMS keeps the same first pairs from a smaller pool); --chunk-size 5 changes nothing (same RLEs)."""
    _, _, default_json, _ = toy_clip_run
    out_json = tmp_path / 'top3.json'
    proc = _run(TOY_CLIP, '--topk', 3, '--chunk-size', 5, '--no-video', '--out-json', out_json)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.listdir(tmp_path) == ['top3.json']
    _assert_same_tracks(json.loads(out_json.read_text()), json.loads(default_json.read_text())[:3], 1e-6)


def test_options_and_visualizer_come_from_the_config(demo, tmp_path):
    """--topk/--window-size/--cfg-options are config options applied before the build; the drawing uses the
    config's visualizer with the dataset's classes and palette; --out defaults to outputs/<input>_<model>.mp4."""
    from mmseqformer.datasets import ToyVISDataset
    args = demo.parse_args([TOY_CLIP, '--no-video', '--out-json', str(tmp_path / 'r.json'), '--topk', '3',
                            '--window-size', '6', '--cfg-options', 'model.test_cfg.link_iou_thr=0.3',
                            'visualizer.alpha=0.8', 'visualizer.line_width=3'])
    _, model = demo.load(args)
    cfg = model.test_cfg
    assert (cfg['max_per_video'], cfg['window_size'], cfg['link_iou_thr']) == (3, 6, 0.3)
    assert cfg['window_stride'] is None  # half the window, not the toy config's stride 1 (for its 2-frame windows)
    assert cfg['link_embed_weight'] == 1.0 and cfg['track_nms_thr'] == 0.7  # the rest of the config's test_cfg
    visualizer = demo.build_visualizer(model)
    assert type(visualizer).__name__ == 'VISLocalVisualizer'
    assert (visualizer.alpha, visualizer.line_width) == (0.8, 3)
    assert tuple(visualizer.dataset_meta['classes']) == tuple(ToyVISDataset.METAINFO['classes'])
    assert [tuple(c) for c in visualizer.dataset_meta['palette']] == [
        tuple(c) for c in ToyVISDataset.METAINFO['palette']]
    assert demo.default_out(TOY_CLIP, type(model).__name__) == Path('outputs/toy_clip_seqformer.mp4')
    assert demo.default_out('/data/frames/', 'SeqFormer') == Path('outputs/frames_seqformer.mp4')
    assert os.listdir(tmp_path) == []


def test_toy_config_visualizer(demo, toy_model):
    """Without options: the toy config's VISLocalVisualizer(alpha=0.5, line_width=2)."""
    visualizer = demo.build_visualizer(toy_model)
    assert type(visualizer).__name__ == 'VISLocalVisualizer'
    assert (visualizer.alpha, visualizer.line_width) == (0.5, 2)
    assert toy_model.cfg.visualizer.alpha == 0.5 and toy_model.cfg.visualizer.line_width == 2
    assert len(visualizer.dataset_meta['classes']) == 6


def test_windows_give_the_tracks_of_tools_test(toy_valid_video, toy_vis_small, tmp_path):
    """The demo on a toy valid video's JPEG folder with --window-size 16 --window-stride 8 gives the tracks
    tools/test.py gives on that video with model.test_cfg.window_size=16, window_stride=8 (same count, labels,
    per-frame RLEs; scores within 1e-5). The demo encodes 8 frames at a time (--chunk-size default), test.py the
    whole video (no test_cfg.chunk_size): the results do not depend on it."""
    paths, video, _ = toy_valid_video
    assert video['length'] >= 20  # several linked windows: starts 0, 8, ..., and one ending at the last frame
    folder = osp.dirname(paths[0])
    assert sorted(os.listdir(folder)) == [osp.basename(p) for p in paths]
    demo_json = tmp_path / 'demo.json'
    proc = _run(folder, '--window-size', 16, '--window-stride', 8, '--no-video', '--out-json', demo_json)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(osp.join(toy_vis_small, 'annotations', 'toy_vis_valid_ytvis.json')) as f:
        index = [v['id'] for v in json.load(f)['videos']].index(video['id'])
    dump = tmp_path / 'test.pkl'
    proc = _run(TOY_CONFIG, TOY_CHECKPOINT, '--work-dir', tmp_path / 'work', '--out', dump, '--cfg-options',
                'model.test_cfg.window_size=16', 'model.test_cfg.window_stride=8',
                f'test_dataloader.dataset.data_root={toy_vis_small}/', f'test_dataloader.dataset.indices=[{index}]',
                script=TEST_TOOL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(dump, 'rb') as f:
        (tested,) = pickle.load(f)
    assert tested['video_id'] == video['id'] and len(tested['frames']) == video['length']
    results = json.loads(demo_json.read_text())
    _assert_same_tracks(results, tested['official'], score_tol=1e-5)
    # windows were linked: some track is segmented in the first and the last frame, which no window holds both of
    spans = [[t for t, rle in enumerate(r['segmentations']) if rle and mask_util.area(rle) > 0] for r in results]
    assert any(s and s[0] == 0 and s[-1] == video['length'] - 1 for s in spans), spans


def test_real_clip_end_to_end(demo, tmp_path):
    """The bundled Big Buck Bunny excerpt: every frame comes out at the input's size; the json validates."""
    clip = osp.join(REPO, 'demo', 'data', 'bigbuckbunny_excerpt.mp4')
    out, out_json = tmp_path / 'bunny.mp4', tmp_path / 'bunny.json'
    assert demo.main([clip, '--out', str(out), '--out-json', str(out_json)]) == 0
    src, dst = cv2.VideoCapture(clip), cv2.VideoCapture(str(out))
    props = (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT, cv2.CAP_PROP_FRAME_COUNT, cv2.CAP_PROP_FPS)
    src_props, dst_props = [src.get(p) for p in props], [dst.get(p) for p in props]
    src.release()
    dst.release()
    assert dst_props == pytest.approx(src_props) and src_props[2] == 60
    w, h, n = (int(v) for v in src_props[:3])
    gt = dict(videos=[dict(id=1, width=w, height=h, length=n, file_names=[f'{i:05d}.jpg' for i in range(n)])],
              categories=[dict(id=i + 1, name=f'c{i}') for i in range(6)], annotations=[])
    checked = check_ytvis_results(gt, json.loads(out_json.read_text()))
    assert 0 < len(checked) <= 10


def test_drawn_frames_show_instances(toy_clip_run):
    _, out, _, out_frames = toy_clip_run
    src = cv2.VideoCapture(TOY_CLIP)
    _, first = src.read()
    src.release()
    drawn = cv2.imread(str(out_frames / '000000.jpg'))
    assert drawn.shape == first.shape
    assert np.abs(drawn.astype(int) - first.astype(int)).mean() > 2  # masks and boxes were drawn


def _bad_inputs(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    mixed = tmp_path / 'mixed'
    mixed.mkdir()
    cv2.imwrite(str(mixed / '0.jpg'), np.zeros((32, 48, 3), np.uint8))
    cv2.imwrite(str(mixed / '1.jpg'), np.zeros((40, 48, 3), np.uint8))
    notimg = tmp_path / 'notimg'
    notimg.mkdir()
    cv2.imwrite(str(notimg / '0.jpg'), np.zeros((32, 48, 3), np.uint8))
    (notimg / 'notes.txt').write_text('x')
    broken = tmp_path / 'broken'
    broken.mkdir()
    (broken / '0.jpg').write_bytes(b'not a jpeg')
    data = open(TOY_CLIP, 'rb').read()
    truncated = tmp_path / 'truncated.mp4'
    truncated.write_bytes(data[:len(data) // 2])
    garbage = tmp_path / 'garbage.mp4'
    garbage.write_bytes(os.urandom(2000))
    existing = tmp_path / 'exists.mp4'
    existing.write_bytes(b'keep me')
    return {
        'missing file': ([str(tmp_path / 'none.mp4')], 'no such file'),
        'empty folder': ([str(empty)], 'no images'),
        'mixed sizes': ([str(mixed), '--out', str(tmp_path / 'o1.mp4')], 'all frames of a video must have one size'),
        'non-image file': ([str(notimg)], 'not an image: notes.txt'),
        'unreadable image': ([str(broken), '--out', str(tmp_path / 'o2.mp4')], 'not a readable image'),
        'truncated video': ([str(truncated), '--out', str(tmp_path / 'o3.mp4')], 'truncated.mp4'),
        'not a video': ([str(garbage), '--out', str(tmp_path / 'o4.mp4')], 'cannot be opened as a video'),
        'output exists': ([TOY_CLIP, '--out', str(existing)], 'exists: pass --overwrite'),
        'output is input': ([TOY_CLIP, '--out', TOY_CLIP, '--overwrite'], 'is the input itself'),
        'zero frames': ([str(tmp_path / 'nothing*.jpg')], 'matches no file'),
        'checkpoint does not fit': ([TOY_CLIP, R50_CONFIG, TOY_CHECKPOINT, '--out', str(tmp_path / 'o5.mp4')],
                                    'does not fit'),
        # window options are config options, checked when the model is built
        'window stride beyond the window': (
            [TOY_CLIP, '--window-size', '2', '--cfg-options', 'model.test_cfg.window_stride=99', '--out',
             str(tmp_path / 'o6.mp4'), '--out-json', str(tmp_path / 'o6.json')],
            'cannot build the model of the config: ValueError: test_cfg.window_stride must be None or an integer in '
            '[0, window_size=2] (0: half the size), got 99'),
        'link threshold not a number': (
            [TOY_CLIP, '--window-size', '4', '--cfg-options', 'model.test_cfg.link_iou_thr=abc', '--out',
             str(tmp_path / 'o7.mp4'), '--out-json', str(tmp_path / 'o7.json')],
            "test_cfg.link_iou_thr must be a number in [0, 1], got 'abc'"),
    }


def test_bad_inputs_one_line_exit_2(demo, tmp_path, capsys):
    for name, (argv, message) in _bad_inputs(tmp_path).items():
        before = sorted(os.listdir(tmp_path))
        code = demo.main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, name
        assert len(err) == 1 and err[0].startswith('error: ') and message in err[0], (name, err)
        assert sorted(os.listdir(tmp_path)) == before, name  # nothing written, nothing left half-written
    assert (tmp_path / 'exists.mp4').read_bytes() == b'keep me'


@pytest.mark.parametrize('argv, message', [
    (['--cfg-options', 'model.test_cfg.window_size'],
     "--cfg-options expects key=value pairs, got 'model.test_cfg.window_size'"),
    (['--window-size', 'abc'], "argument --window-size: invalid int value: 'abc'"),
])
def test_bad_arguments_one_line_exit_2(demo, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        demo.main([TOY_CLIP, *argv])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f'video_demo.py: error: {message}']


def test_cli_error_has_no_traceback(tmp_path):
    proc = _run(str(tmp_path / 'missing.mp4'))
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr and proc.stderr.strip().splitlines() == [
        f'error: {tmp_path / "missing.mp4"}: no such file or folder']
