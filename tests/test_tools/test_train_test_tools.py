"""tools/train.py, tools/test.py, tools/dist_train.sh and tools/dist_test.sh on CPU with the toy set.

The heavy tests (marked ``slow``) train the tiny SeqFormer on CPU: one 12-iteration run shared by the
loss/resume/test checks, plus a 2-process gloo run. They use a config derived from the tiny toy config
with a fixed, light train pipeline (2-frame clips at ~160 px, no random augmentation) so the loss curve is
reproducible and a run takes seconds; subprocesses use one thread each (oversubscribed threads on a
shared 2-core machine slow training down tenfold).
"""
import glob
import json
import math
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys
import zipfile

import pytest

from mmseqformer.utils.cli import CliError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO, 'configs', 'seqformer', 'seqformer_r18-tiny_1xb2-100i_toy.py')
MASKTRACK_TOY = osp.join(REPO, 'configs', 'masktrack_rcnn', 'masktrack-rcnn_mbv2-toy_1xb1-6000i_toy.py')
ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONUNBUFFERED='1',
           TORCHRUN=f'{sys.executable} -m torch.distributed.run')

FAST_CONFIG = f"""
_base_ = {TINY!r}
train_pipeline = [
    dict(type='UniformRefFrameSample', num_ref_imgs=1, frame_range=[-2, 2], filter_key_img=True),
    dict(type='TransformBroadcaster', share_random_params=True, transforms=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadTrackAnnotations', with_mask=True),
        dict(type='Resize', scale=(160, 96), keep_ratio=True),
    ]),
    dict(type='PackTrackInputs')
]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))
"""


def run(cmd, timeout=600, **env):
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=dict(ENV, **env))


def tool(script, *args):
    return run([sys.executable, osp.join(REPO, 'tools', script), *map(str, args)])


def assert_rejected(proc, prog, *words):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert lines[0].startswith(f'{prog}: error:'), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


def data_options(root):
    return [f'{split}_dataloader.dataset.data_root={root}/' for split in ('train', 'val', 'test')]


def train_options(root, max_iters):
    # no validation during training (val_begin past the end); raw per-iteration values in scalars.json
    return ['--cfg-options', *data_options(root), f'train_cfg.max_iters={max_iters}', 'train_cfg.val_begin=1000',
            f'default_hooks.checkpoint.interval={max_iters}', 'default_hooks.logger.interval=1',
            'log_processor.window_size=1', 'randomness.seed=0', 'train_dataloader.dataset.indices=2']


def scalar_rows(run_dir):
    with open(osp.join(run_dir, 'vis_data', 'scalars.json')) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_dirs(work_dir):
    return sorted(d for d in glob.glob(osp.join(work_dir, '2*')) if osp.isdir(d))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


@pytest.fixture(scope='module')
def fast_config(tmp_path_factory):
    path = tmp_path_factory.mktemp('configs') / 'seqformer_tiny_fast_toy.py'
    path.write_text(FAST_CONFIG)
    return str(path)


@pytest.fixture(scope='module')
def trained(fast_config, toy_vis_small, tmp_path_factory):
    """A 12-iteration CPU training run; its work dir."""
    work_dir = str(tmp_path_factory.mktemp('train') / 'work')
    proc = tool('train.py', fast_config, '--work-dir', work_dir, *train_options(toy_vis_small, 12))
    assert proc.returncode == 0, proc.stderr[-5000:]
    return work_dir


# ---------------------------------------------------------------- heavy: real training and testing

@pytest.mark.slow
def test_train_loss_decreases(trained):
    assert osp.isfile(osp.join(trained, 'iter_12.pth'))
    with open(osp.join(trained, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.join(trained, 'iter_12.pth')
    [run_dir] = run_dirs(trained)
    rows = [r for r in scalar_rows(run_dir) if 'loss' in r]
    assert [r['iter'] for r in rows] == list(range(1, 13))
    losses = [r['loss'] for r in rows]
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4, losses


@pytest.mark.slow
def test_resume_continues_iterations(trained, fast_config, toy_vis_small):
    proc = tool('train.py', fast_config, '--work-dir', trained, '--resume', *train_options(toy_vis_small, 14))
    assert proc.returncode == 0, proc.stderr[-5000:]
    log = proc.stdout + proc.stderr
    assert f'Auto resumed from the latest checkpoint {osp.join(trained, "iter_12.pth")}' in log
    assert 'resumed epoch: 0, iter: 12' in log
    first, second = run_dirs(trained)
    assert [r['iter'] for r in scalar_rows(second) if 'loss' in r] == [13, 14]
    assert osp.isfile(osp.join(trained, 'iter_14.pth'))
    # an explicit checkpoint also resumes (and must exist)
    missing = tool('train.py', fast_config, '--work-dir', trained, '--resume', osp.join(trained, 'nope.pth'))
    assert_rejected(missing, 'train.py', 'nope.pth', 'no such file')


@pytest.mark.slow
def test_test_reports_metrics_dumps_and_draws(trained, fast_config, toy_vis_small, tmp_path):
    ckpt = osp.join(trained, 'iter_12.pth')
    work_dir, out = tmp_path / 'test', tmp_path / 'preds.pkl'
    proc = tool('test.py', fast_config, ckpt, '--work-dir', work_dir, '--out', out, '--show-dir', 'drawn',
                '--cfg-options', *data_options(toy_vis_small), 'test_dataloader.dataset.indices=1',
                'default_hooks.visualization.frame_interval=10')
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert f'Load checkpoint from {ckpt}' in proc.stdout + proc.stderr
    [run_dir] = run_dirs(work_dir)
    with open(osp.join(run_dir, f'{osp.basename(run_dir)}.json')) as f:
        metrics = json.load(f)
    names = ['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR@1', 'AR@10']
    assert all(f'youtube_vis/segm_{n}' in metrics for n in names), metrics
    assert all(metrics[f'youtube_vis/segm_{n}'] == -1 or 0 <= metrics[f'youtube_vis/segm_{n}'] <= 1 for n in names)
    assert 'youtube_vis/segm_mAP' in proc.stdout

    with open(osp.join(toy_vis_small, 'annotations', 'toy_vis_valid_ytvis.json')) as f:
        gt = json.load(f)
    video = gt['videos'][0]
    with open(out, 'rb') as f:
        dump = pickle.load(f)
    assert [v['video_id'] for v in dump] == [video['id']]
    frames = dump[0]['frames']
    assert len(frames) == video['length']
    assert [osp.basename(fr['img_path']) for fr in frames] == [osp.basename(n) for n in video['file_names']]
    for entry in dump[0]['official']:
        assert len(entry['segmentations']) == video['length']
    # the dumped official results scored on that video's ground truth reproduce the test metrics
    # (YouTubeVISMetric builds its ground truth from the evaluated videos only; it rounds to 3 decimals)
    from mmseqformer.evaluation import evaluate_ytvis_results
    one_video = dict(gt, videos=[video], annotations=[a for a in gt['annotations'] if a['video_id'] == video['id']])
    offline = evaluate_ytvis_results(one_video, dump[0]['official'])
    for key, name in dict(AP='mAP', AP50='mAP_50', AP75='mAP_75', AR1='AR@1', AR10='AR@10').items():
        assert round(offline[key], 3) == metrics[f'youtube_vis/segm_{name}']
    # drawings: every 10th frame, in a folder per video under work_dir/<timestamp>/drawn
    drawn = sorted(osp.relpath(p, osp.join(run_dir, 'drawn')) for p in glob.glob(osp.join(run_dir, 'drawn', '*', '*')))
    video_dir = osp.basename(osp.dirname(video['file_names'][0]))
    assert drawn == [osp.join(video_dir, osp.basename(video['file_names'][t])) for t in range(0, video['length'], 10)]


@pytest.mark.slow
def test_dist_test_format_only_writes_submission(trained, fast_config, toy_vis_small, tmp_path):
    prefix = tmp_path / 'submission' / 'results'
    options = ['--cfg-options', *data_options(toy_vis_small), 'test_dataloader.dataset.indices=2',
               'test_evaluator.format_only=True', f'test_evaluator.outfile_prefix={prefix}']
    proc = run(['bash', osp.join(REPO, 'tools', 'dist_test.sh'), fast_config, osp.join(trained, 'iter_12.pth'), '2',
                '--work-dir', str(tmp_path / 'test'), *options], PORT=free_port())  # 29500 may be another run's
    assert proc.returncode == 0, proc.stderr[-5000:]
    with zipfile.ZipFile(f'{prefix}.submission_file.zip') as zf:
        assert zf.namelist() == ['results.json']
        results = json.loads(zf.read('results.json'))
    with open(osp.join(toy_vis_small, 'annotations', 'toy_vis_valid_ytvis.json')) as f:
        gt = json.load(f)
    videos = {v['id']: v for v in gt['videos'][:2]}
    assert {r['video_id'] for r in results} == set(videos)  # one video from each of the two ranks
    for r in results:
        v = videos[r['video_id']]
        assert set(r) == {'video_id', 'score', 'category_id', 'segmentations'}
        assert 1 <= r['category_id'] <= 6 and 0 <= r['score'] <= 1
        assert len(r['segmentations']) == v['length']
        assert all(s is None or s['size'] == [v['height'], v['width']] for s in r['segmentations'])
    # official format: the offline evaluator accepts it
    from mmseqformer.evaluation import evaluate_ytvis_results
    assert set(evaluate_ytvis_results(gt, results)) == {'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10'}
    # the submission is never overwritten
    again = tool('test.py', fast_config, osp.join(trained, 'iter_12.pth'), '--work-dir', tmp_path / 'test', *options)
    assert_rejected(again, 'test.py', 'exists', 'outfile_prefix')


@pytest.mark.slow
def test_two_process_evaluation_equals_one_process(trained, fast_config, toy_vis_small, tmp_path):
    ckpt = osp.join(trained, 'iter_12.pth')
    options = ['--cfg-options', *data_options(toy_vis_small)]  # all 4 valid videos: 2 per rank
    single = tool('test.py', fast_config, ckpt, '--work-dir', tmp_path / 'one', *options)
    assert single.returncode == 0, single.stderr[-3000:]
    double = run(['bash', osp.join(REPO, 'tools', 'dist_test.sh'), fast_config, ckpt, '2', '--work-dir',
                  str(tmp_path / 'two'), *options], PORT=free_port())
    assert double.returncode == 0, double.stderr[-3000:]
    metrics = []
    for work_dir in (tmp_path / 'one', tmp_path / 'two'):
        [run_dir] = run_dirs(str(work_dir))
        with open(osp.join(run_dir, f'{osp.basename(run_dir)}.json')) as f:
            metrics.append({k: v for k, v in json.load(f).items() if k.startswith('youtube_vis/')})
    assert metrics[0] == metrics[1] and len(metrics[0]) >= 8


@pytest.mark.slow
def test_dist_train_two_gloo_processes(fast_config, toy_vis_small, tmp_path):
    work_dir = tmp_path / 'dist'
    proc = subprocess.run(['bash', osp.join(REPO, 'tools', 'dist_train.sh'), fast_config, '2', '--work-dir',
                           str(work_dir), *train_options(toy_vis_small, 2)], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env=dict(ENV, PORT=free_port()))
    assert proc.returncode == 0, proc.stderr[-5000:]
    [run_dir] = run_dirs(work_dir)
    with open(osp.join(run_dir, f'{osp.basename(run_dir)}.log')) as f:
        log = f.read()
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert "dist_cfg=dict(backend='gloo')" in log
    assert [r['iter'] for r in scalar_rows(run_dir) if 'loss' in r] == [1, 2]
    assert osp.isfile(work_dir / 'iter_2.pth')


# ---------------------------------------------------------------- bad input: one line, exit 2

def test_train_rejects_bad_input(fast_config, tmp_path):
    assert_rejected(tool('train.py', tmp_path / 'none.py'), 'train.py', 'no such file')
    assert_rejected(tool('train.py', fast_config, '--cfg-options', 'novalue'), 'train.py', 'key=value')
    assert_rejected(tool('train.py', fast_config, '--launcher', 'ssh'), 'train.py', 'invalid choice')
    assert_rejected(tool('train.py', TINY, '--auto-scale-lr'), 'train.py', 'auto_scale_lr')
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(\n')
    assert_rejected(tool('train.py', broken), 'train.py', 'cannot load config')


def test_train_rejects_unknown_types(fast_config, toy_vis_small, tmp_path):
    # built in Runner.__init__ (the model) and lazily in runner.train() (the dataset)
    proc = tool('train.py', fast_config, '--work-dir', tmp_path / 'w', '--cfg-options', *data_options(toy_vis_small),
                'model.type=NoSuchModel')
    assert_rejected(proc, 'train.py', "unknown type 'NoSuchModel'", 'mmdet::model registry')
    proc = tool('train.py', fast_config, '--work-dir', tmp_path / 'w', '--cfg-options', *data_options(toy_vis_small),
                'train_dataloader.dataset.type=NoSuchDataset')
    assert_rejected(proc, 'train.py', "unknown type 'NoSuchDataset'", 'mmdet::dataset registry')


def test_test_rejects_bad_input(fast_config, tmp_path):
    ckpt = tmp_path / 'fake.pth'
    ckpt.write_bytes(b'')
    assert_rejected(tool('test.py', fast_config, tmp_path / 'none.pth'), 'test.py', 'checkpoint', 'no such file')
    assert_rejected(tool('test.py', tmp_path / 'none.py', ckpt), 'test.py', 'config', 'no such file')
    assert_rejected(tool('test.py', fast_config, ckpt, '--out', tmp_path / 'r.json'), 'test.py', '.pkl')
    existing = tmp_path / 'r.pkl'
    existing.write_bytes(b'mine')
    assert_rejected(tool('test.py', fast_config, ckpt, '--out', existing), 'test.py', 'exists')
    assert existing.read_bytes() == b'mine'
    # a bad window option fails when the model is built, not in the middle of the test loop
    assert_rejected(tool('test.py', fast_config, ckpt, '--cfg-options', 'model.test_cfg.window_size=2',
                         'model.test_cfg.track_nms_thr=abc'), 'test.py', 'test_cfg.track_nms_thr', "'abc'")


def test_train_names_a_bad_annotation_file(fast_config, tmp_path):
    # mmdet's video dataset would raise a bare KeyError late, inside runner.train(): the file is checked first
    ann = tmp_path / 'no_file_names.json'
    ann.write_text(json.dumps(dict(images=[dict(id=1, video_id=1, frame_id=0)], videos=[dict(id=1)], categories=[],
                                   annotations=[])))
    proc = tool('train.py', fast_config, '--work-dir', tmp_path / 'w', '--cfg-options',
                f'train_dataloader.dataset.ann_file={ann}')
    assert_rejected(proc, 'train.py', f'annotation file {ann}: image #0 lacks key(s)', 'file_name')


@pytest.mark.parametrize('text,words', [
    ('{"data_list": [', 'not valid JSON (JSONDecodeError: '),
    (b'\xff\xfe', 'not valid JSON (UnicodeDecodeError: '),
    ('[1, 2]', 'TypeError: The annotations loaded from annotation file should be a dict'),
    ('{"metainfo": {}}', 'ValueError: Annotation must have data_list and metainfo keys'),
], ids=['not json', 'not utf-8', 'not an object', 'missing keys'])
def test_dataset_errors_name_the_annotation_file(runner_setup, capsys, tmp_path, text, words):
    """What guarded_main prints for an annotation file that an mmengine dataset cannot read (in-process)."""
    from mmengine.dataset import BaseDataset
    from mmengine.registry import Registry

    datasets = Registry('datasets of this test')
    datasets.register_module(module=BaseDataset)
    ann = tmp_path / 'ann.json'
    if isinstance(text, bytes):
        ann.write_bytes(text)
    else:
        ann.write_text(text)

    def build(args):
        datasets.build(dict(type='BaseDataset', data_root=str(tmp_path), ann_file='ann.json'))
        return 0

    assert runner_setup.guarded_main(build, None, 'train.py') == 2
    out, err = capsys.readouterr()
    assert err.startswith(f'train.py: error: annotation file {ann}: {words}') and err.count('\n') == 1, err


def test_checkpoints_that_do_not_load_are_rejected(fast_config, toy_vis_small, tmp_path):
    empty, cut = tmp_path / 'empty.pth', tmp_path / 'cut.pth'
    empty.write_bytes(b'')
    shipped = osp.join(REPO, 'demo', 'checkpoints', 'seqformer_mbv2-toy_toy.pth')
    with open(shipped, 'rb') as f:
        cut.write_bytes(f.read()[:100_000])
    options = ['--work-dir', tmp_path / 'w', '--cfg-options', *data_options(toy_vis_small)]
    assert_rejected(tool('test.py', fast_config, empty, *options), 'test.py', 'empty.pth', 'not a readable checkpoint')
    assert_rejected(tool('test.py', fast_config, cut, *options), 'test.py', 'cut.pth', 'not a readable checkpoint')
    # the MobileNetV2 toy model's weights for the ResNet-18 tiny model: mmengine would only warn
    assert_rejected(tool('test.py', fast_config, shipped, *options), 'test.py', 'does not fit', 'missing', 'unexpected')
    assert_rejected(tool('train.py', fast_config, '--resume', cut, *options), 'train.py', 'not a readable checkpoint')
    assert_rejected(tool('train.py', fast_config, '--resume', shipped, *options), 'train.py', 'does not fit')
    assert_rejected(tool('train.py', fast_config, *options, 'load_from=' + str(empty)), 'train.py', 'empty.pth')


def test_missing_start_weights_are_rejected_before_training(toy_vis_small, tmp_path):
    """A missing Pretrained init_cfg file (mmengine: a traceback inside runner.train()) and load_from: one line."""
    work_dir = tmp_path / 'w'
    weights = tmp_path / 'no_such_mobilenet.pth'
    ckpt = tmp_path / 'no_such_start.pth'
    options = ['--cfg-options', *data_options(toy_vis_small), f'model.detector.backbone.init_cfg.checkpoint={weights}']
    proc = run([sys.executable, osp.join(REPO, 'tools', 'train.py'), MASKTRACK_TOY, '--work-dir', str(work_dir),
                *options, f'load_from={ckpt}'], timeout=120)
    assert_rejected(proc, 'train.py', f'weights file not found: {weights} (model.detector.backbone.init_cfg), '
                                      f'{ckpt} (load_from)', 'configs/masktrack_rcnn/README.md says where to get it')
    assert not work_dir.exists()  # rejected before the runner was built, so before any training
    # test.py takes its weights from the checkpoint: the init_cfg is not read (the empty checkpoint is the error)
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    proc = run([sys.executable, osp.join(REPO, 'tools', 'test.py'), MASKTRACK_TOY, str(empty), '--work-dir',
                str(work_dir), *options], timeout=120)
    assert_rejected(proc, 'test.py', 'empty.pth', 'not a readable checkpoint')


def test_pretrained_checkpoints_walks_the_model_config(runner_setup, tmp_path, monkeypatch):
    from mmengine.config import Config
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'have.pth').write_bytes(b'')
    remote = ['https://x/a.pth', 'http://x/b.pth', 'torchvision://resnet50', 'open-mmlab://r50', 'mmcls://m',
              'modelzoo://m', 'pavi://m', 's3://bucket/m.pth']
    model = dict(
        type='M', init_cfg=dict(type='Pretrained', checkpoint='top.pth'),
        detector=dict(backbone=dict(init_cfg=[dict(type='Kaiming', layer='Conv2d'),
                                              dict(type='Pretrained', checkpoint='have.pth', prefix='backbone.'),
                                              dict(type='mmengine.Pretrained', checkpoint='nested/deep.pth')]),
                      init_cfg=None),
        heads=[dict(type='H', init_cfg=dict(type='Pretrained', checkpoint=url)) for url in remote],
        extra=dict(init_cfg=dict(type='Normal', std=0.01)))
    cfg = Config(dict(model=model, load_from=None))
    found = runner_setup.pretrained_checkpoints(cfg.model)
    assert found[:3] == [('model.init_cfg', 'top.pth'), ('model.detector.backbone.init_cfg[1]', 'have.pth'),
                         ('model.detector.backbone.init_cfg[2]', 'nested/deep.pth')]
    assert found[3:] == [(f'model.heads[{i}].init_cfg', url) for i, url in enumerate(remote)]
    assert runner_setup.missing_start_weights(cfg) == [('model.init_cfg', 'top.pth'),
                                                       ('model.detector.backbone.init_cfg[2]', 'nested/deep.pth')]
    cfg.load_from = 'gone.pth'
    assert runner_setup.missing_start_weights(cfg)[-1] == ('load_from', 'gone.pth')
    with pytest.raises(CliError, match=r'^weights file not found: top\.pth \(model\.init_cfg\), nested/deep\.pth '
                                       r'\(model\.detector\.backbone\.init_cfg\[2\]\), gone\.pth \(load_from\); '):
        runner_setup.check_start_weights(cfg)
    (tmp_path / 'top.pth').write_bytes(b'')
    (tmp_path / 'nested').mkdir()
    (tmp_path / 'nested' / 'deep.pth').write_bytes(b'')
    cfg.load_from = 'https://x/start.pth'
    runner_setup.check_start_weights(cfg)  # every local file exists, URLs are left to mmengine
    assert runner_setup.pretrained_checkpoints(Config(dict(model=dict(type='M'))).model) == []


def test_misspelt_top_level_key_warns(fast_config, toy_vis_small, tmp_path):
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    proc = tool('test.py', fast_config, empty, '--cfg-options', 'test_evalutor.format_only=True')
    assert "warning: " in proc.stderr
    assert "'test_evalutor' is ignored (did you mean 'test_evaluator'?)" in proc.stderr


def test_dist_scripts_reject_bad_arguments(fast_config):
    for script, args in [('dist_train.sh', [fast_config]), ('dist_train.sh', [fast_config, 'two']),
                         ('dist_train.sh', ['/none.py', '2']), ('dist_test.sh', [fast_config, 'x.pth']),
                         ('dist_test.sh', [fast_config, 'x.pth', '0'])]:
        proc = run(['bash', osp.join(REPO, 'tools', script), *args])
        assert_rejected(proc, script)


@pytest.fixture
def runner_setup():
    """The set-up train.py and test.py share."""
    from mmseqformer.apis import runner_setup
    return runner_setup


def test_ctrl_c_exits_130_quietly(runner_setup, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    assert runner_setup.guarded_main(interrupted, None, 'train.py') == 130
    assert capsys.readouterr() == ('', '')


def test_traceback_on_request(runner_setup, capsys, monkeypatch):
    def broken(args):
        try:
            raise ValueError('inner detail')
        except ValueError:
            raise CliError('cannot build the runner: ValueError: inner detail') from None

    assert runner_setup.guarded_main(broken, None, 'train.py') == 2
    assert capsys.readouterr().err == 'train.py: error: cannot build the runner: ValueError: inner detail\n'
    monkeypatch.setenv('MMSEQFORMER_TRACEBACK', '1')
    with pytest.raises(ValueError, match='inner detail'):
        runner_setup.guarded_main(broken, None, 'train.py')


def test_inconsistent_cocovid_files_are_rejected_before_building(fast_config, tmp_path):
    """Boxes outside the image would be skipped silently by mmdet's dataset: train and test name them instead."""
    ann = tmp_path / 'outside.json'
    ann.write_text(json.dumps(dict(
        videos=[dict(id=1)], categories=[dict(id=1, name='a')],
        images=[dict(id=1, video_id=1, frame_id=0, width=64, height=48, file_name='v/0.jpg')],
        annotations=[dict(id=7, image_id=1, category_id=1, instance_id=1, bbox=[50, 10, 30, 10],
                          segmentation=[[50, 10, 63, 10, 63, 20]])])))
    ckpt = tmp_path / 'any.pth'
    ckpt.write_bytes(b'')
    work_dir = tmp_path / 'w'
    proc = tool('train.py', fast_config, '--work-dir', work_dir, '--cfg-options',
                f'train_dataloader.dataset.ann_file={ann}')
    assert_rejected(proc, 'train.py', f'annotation file {ann}: annotation 7 (video 1) frame 0: box', 'outside')
    proc = tool('test.py', fast_config, ckpt, '--work-dir', work_dir, '--cfg-options',
                f'test_dataloader.dataset.ann_file={ann}')
    assert_rejected(proc, 'test.py', f'annotation file {ann}: annotation 7 (video 1) frame 0: box', 'outside')
    assert not work_dir.exists()


@pytest.mark.slow
def test_amp_on_cpu_trains_under_bfloat16_autocast(fast_config, toy_vis_small, tmp_path):
    work_dir = tmp_path / 'amp'
    proc = tool('train.py', fast_config, '--amp', '--work-dir', work_dir, *train_options(toy_vis_small, 2))
    assert proc.returncode == 0, proc.stderr[-3000:]
    from mmengine.config import Config
    dumped = Config.fromfile(str(work_dir / osp.basename(fast_config)))
    assert dumped.optim_wrapper.type == 'AutocastOptimWrapper'
    losses = [row['loss'] for row in scalar_rows(run_dirs(str(work_dir))[-1]) if 'loss' in row]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
