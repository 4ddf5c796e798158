"""demo/video_demo.py: outputs on the bundled toy clip, and one-line errors with exit 2 on bad input."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmseqformer.evaluation.ytvis_official_eval import check_ytvis_results, evaluate_ytvis_results

from ..test_tools.tool_helpers import load_module
from .conftest import REPO, TOY_CHECKPOINT

DEMO = osp.join(REPO, 'demo', 'video_demo.py')
TOY_CLIP = osp.join(REPO, 'demo', 'data', 'toy_clip.mp4')
R50_CONFIG = osp.join(REPO, 'configs', 'seqformer', 'seqformer_r50_8xb2-12e_youtubevis2019.py')


@pytest.fixture(scope='module')
def demo():
    return load_module(DEMO)


@pytest.fixture(scope='module')
def toy_clip_run(demo, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('demo_out')
    out, out_json, out_frames = out_dir / 'toy.mp4', out_dir / 'toy.json', out_dir / 'frames'
    code = demo.main([TOY_CLIP, '--out', str(out), '--out-json', str(out_json), '--out-frames', str(out_frames),
                      '--chunk-size', '5'])
    return code, out, out_json, out_frames


def test_toy_clip_outputs(toy_clip_run, toy_vis_default):
    code, out, out_json, out_frames = toy_clip_run
    assert code == 0
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


def _run(*args):
    return subprocess.run([sys.executable, DEMO, *args], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))


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


def test_cli_error_has_no_traceback(tmp_path):
    proc = _run(str(tmp_path / 'missing.mp4'))
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr and proc.stderr.strip().splitlines() == [
        f'error: {tmp_path / "missing.mp4"}: no such file or folder']
