"""Segment and track every instance of a video with any VIS model; write the drawn video and YouTube-VIS json.

    python demo/video_demo.py INPUT [CONFIG] [CHECKPOINT] [--out OUT.mp4] [--out-json results.json]
        [--out-frames DIR] [--overwrite] [--fps F] [--device cpu|cuda:0] [--score-thr 0.3]
        [--chunk-size N] [--max-frames N] [--frame-stride N] [--topk K] [--window-size L [--window-stride S]]
        [--cfg-options KEY=VALUE ...] [--backend pytorch|onnxruntime|openvino]

INPUT: a video file (mp4/avi/mov/... readable by OpenCV), a folder of frames or a quoted glob of images.
CONFIG/CHECKPOINT default to the shipped toy SeqFormer. The model runs its own video inference (its config's
``test_cfg``); ``--topk``, ``--window-size`` and ``--window-stride`` set ``model.test_cfg.max_per_video``,
``.window_size`` and ``.window_stride`` before the model is built, as ``--cfg-options`` does (``--window-size``
without a stride: half the window, not the config's stride). ``--out`` defaults to
``outputs/<input name>_<model type>.mp4`` (relative to the current folder). With ``--backend onnxruntime`` or
``openvino`` CHECKPOINT is the folder ``tools/deployment/export_onnx.py`` wrote from CONFIG. Bad input prints one
error line and exits with status 2. Outputs are written under a temporary name and renamed when complete; existing
outputs are kept unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from mmengine.config import DictAction

from mmseqformer.utils.cli import KeyValueAction, ToolArgumentParser

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / 'configs/seqformer/seqformer_mbv2-toy_1xb2-1100i_toy.py'
DEFAULT_CHECKPOINT = REPO / 'demo/checkpoints/seqformer_mbv2-toy_toy.pth'
EXIT_BAD_INPUT = 2


class DemoError(Exception):
    """Bad input or arguments: reported as one line, exit status 2."""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog='video_demo.py', description='Video instance segmentation demo')
    parser.add_argument('input', help='video file, folder of frames, or quoted glob of images')
    parser.add_argument('config', nargs='?', default=str(DEFAULT_CONFIG), help='config (default: toy model)')
    parser.add_argument('checkpoint', nargs='?', default=str(DEFAULT_CHECKPOINT),
                        help='checkpoint (default: the shipped toy model)')
    parser.add_argument('--out', help='output video (.mp4 or .avi; default outputs/<input name>_<model>.mp4)')
    parser.add_argument('--out-json', help='write YouTube-VIS results json (RLE per frame) here')
    parser.add_argument('--out-frames', help='write the drawn frames as JPEGs into this folder')
    parser.add_argument('--no-video', action='store_true', help='do not write the output video')
    parser.add_argument('--overwrite', action='store_true', help='replace existing outputs')
    parser.add_argument('--fps', type=float, help='frame rate of frame folders (default 10); videos keep theirs')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    parser.add_argument('--backend', default='pytorch', choices=('pytorch', 'onnxruntime', 'openvino'),
                        help='pytorch, or a runtime of exported graphs: CHECKPOINT is then the folder '
                             'tools/deployment/export_onnx.py wrote (docs/deployment.md)')
    parser.add_argument('--score-thr', type=float, default=0.3, help='draw instances scoring at least this')
    parser.add_argument('--chunk-size', type=int, default=8, help='frames the model processes together')
    parser.add_argument('--max-frames', type=int, help='use at most this many frames')
    parser.add_argument('--frame-stride', type=int, default=1, help='use every N-th frame')
    parser.add_argument('--topk', type=int, help='model.test_cfg.max_per_video: tracks kept (default: config)')
    parser.add_argument('--window-size', type=int, help='model.test_cfg.window_size: decode in linked windows')
    parser.add_argument('--window-stride', type=int, help='model.test_cfg.window_stride (default half the window)')
    parser.add_argument('--cfg-options', nargs='+', action=KeyValueAction, default=[], metavar='KEY=VALUE',
                        help='override config entries, e.g. model.test_cfg.link_iou_thr=0.3')
    return parser.parse_args(argv)


def default_out(input_path: str, model_name: str) -> Path:
    name = Path(input_path.rstrip('/')).name
    stem = Path(name).stem if Path(name).suffix else name
    stem = ''.join(c if c.isalnum() or c in '-_.' else '_' for c in stem) or 'video'
    return Path('outputs') / f'{stem}_{model_name.lower()}.mp4'


def model_options(args: argparse.Namespace) -> Dict[str, object]:
    """``--cfg-options`` plus the test_cfg shortcuts, applied before the model is built."""
    parsed = argparse.Namespace(options={})
    if args.cfg_options:  # checked as key=value pairs by the parser; values parsed as mmengine's tools do
        DictAction(option_strings=['--cfg-options'], dest='options')(None, parsed, args.cfg_options)
    options = dict(parsed.options)
    for flag, key in (('topk', 'max_per_video'), ('window_size', 'window_size'), ('window_stride', 'window_stride')):
        if getattr(args, flag) is not None:
            options[f'model.test_cfg.{key}'] = getattr(args, flag)
    # a config's stride belongs to its own window size (toy: 2/1): --window-size L alone means stride L/2
    if args.window_size is not None:
        options.setdefault('model.test_cfg.window_stride', None)
    return options


def check_args(args: argparse.Namespace) -> None:
    """Everything that can be refused before loading a model."""
    for name in ('chunk_size', 'max_frames', 'frame_stride', 'topk', 'window_size', 'window_stride'):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise DemoError(f'--{name.replace("_", "-")} must be >= 1, got {value}')
    if args.fps is not None and not args.fps > 0:
        raise DemoError(f'--fps must be > 0, got {args.fps}')
    if args.window_stride and not args.window_size:
        raise DemoError('--window-stride needs --window-size')
    if not os.path.isfile(args.config):
        raise DemoError(f'{args.config}: no such config file')
    # an exported folder is checked where the model is built (apis.deployed.build_exported_model)
    if args.backend == 'pytorch' and not os.path.isfile(args.checkpoint):
        raise DemoError(f'{args.checkpoint}: no such checkpoint file')
    if args.device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            raise DemoError(f'--device {args.device}: no CUDA device is available (use --device cpu)')
    if args.out and Path(args.out).suffix.lower() not in ('.mp4', '.avi'):
        raise DemoError(f'{args.out}: output video must end in .mp4 or .avi')
    if args.no_video and not (args.out_json or args.out_frames):
        raise DemoError('nothing to write: --no-video needs --out-json or --out-frames')


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse outputs that are the input or exist (without ``--overwrite``)."""
    inputs = {os.path.realpath(args.input)} if os.path.exists(args.input) else set()
    for flag, path in (('--out', args.out), ('--out-json', args.out_json), ('--out-frames', args.out_frames)):
        if path is None:
            continue
        if os.path.realpath(path) in inputs:
            raise DemoError(f'{flag} {path} is the input itself')
        if os.path.exists(path) and not args.overwrite:
            raise DemoError(f'{path} exists: pass --overwrite to replace it')


def load(args: argparse.Namespace):
    """The video source and the model, or a :class:`DemoError`."""
    from mmseqformer.apis import CheckpointError, ConfigError, VideoInputError, VideoSource, init_model
    from mmseqformer.apis.deployed import BackendError
    try:
        source = VideoSource(args.input, args.max_frames, args.frame_stride, fps=args.fps)
        model = init_model(args.config, args.checkpoint, device=args.device, cfg_options=model_options(args),
                           backend=args.backend)
    except (VideoInputError, CheckpointError, BackendError, FileNotFoundError) as e:
        raise DemoError(str(e)) from None
    except ConfigError as e:
        raise DemoError(f'{args.config}: {e}') from None
    except OSError as e:  # e.g. a folder or file without read permission
        raise DemoError(f'{e.filename or args.input}: {e.strerror or e}') from None
    if args.no_video:
        args.out = None
    else:
        args.out = args.out or str(default_out(args.input, type(model).__name__))
    check_outputs(args)
    return source, model


def build_visualizer(model):
    """The config's visualizer (default ``VISLocalVisualizer(alpha=0.5, line_width=2)``) with the model's classes
    and palette."""
    from mmdet.registry import VISUALIZERS
    cfg = dict(model.cfg.get('visualizer') or dict(type='VISLocalVisualizer', alpha=0.5, line_width=2))
    cfg.pop('vis_backends', None)  # draw only: nothing is saved through backends
    cfg['name'] = f'video_demo_{os.getpid()}_{time.monotonic_ns()}'  # a fresh instance, not a shared one
    visualizer = VISUALIZERS.build(cfg)
    visualizer.dataset_meta = model.dataset_meta
    return visualizer


class Progress:
    """Progress bars: frames read, then frames drawn and written."""

    def __init__(self) -> None:
        self.read_bar = self.write_bar = None

    def __call__(self, stage: str, done: int, count: int) -> None:
        from mmengine.utils import ProgressBar
        if stage != 'encode':
            return
        if self.read_bar is None:
            print('reading frames:', flush=True)
            self.read_bar = ProgressBar(max(count, 1))
        self.read_bar.update()

    def written(self, total: int) -> None:
        from mmengine.utils import ProgressBar
        if self.write_bar is None:  # an offline model's first result comes after the whole video was read
            print('\nsegmenting, drawing and writing:', flush=True)
            self.write_bar = ProgressBar(max(total, 1))
        self.write_bar.update()


def draw(visualizer, frame, sample, score_thr: float):
    """The frame (BGR) with the instances scoring at least ``score_thr`` drawn; absent ones (empty mask) are not
    drawn, they would get a box at (0, 0)."""
    from mmdet.structures import DetDataSample
    inst = sample.pred_track_instances
    shown = DetDataSample(metainfo=sample.metainfo)
    shown.pred_track_instances = inst[(inst.scores >= score_thr) & inst.masks.flatten(1).any(1)]
    visualizer.add_datasample('frame', frame[:, :, ::-1], data_sample=shown, draw_gt=False, show=False)
    return visualizer.get_image()[:, :, ::-1]


def run(args: argparse.Namespace) -> str:
    check_args(args)
    from mmseqformer.apis import VideoInputError, iter_video_results
    from mmseqformer.apis.video_outputs import OutputError, TrackCollector, VideoOutputs
    from mmseqformer.utils.stage_profiler import peak_memory_mb

    start_time = time.time()
    source, model = load(args)
    print(f'{source.name}: ~{source.expected_frames()} frames at {source.fps:g} fps, model {Path(args.config).name}',
          flush=True)
    visualizer = build_visualizer(model)
    outputs = VideoOutputs(args.out, args.out_frames, args.out_json, source.fps)
    tracks, progress = TrackCollector(), Progress()
    try:
        frames = None
        for sample in iter_video_results(model, source, chunk_size=args.chunk_size, progress=progress):
            frames = frames or iter(source)  # drawn frames are read again: the model keeps none of them
            frame = next(frames)
            tracks.add(sample)
            if args.out or args.out_frames:
                outputs.write(sample.metainfo['frame_id'], draw(visualizer, frame, sample, args.score_thr))
            progress.written(sample.metainfo['video_length'])
        json_results = tracks.to_json()
        outputs.commit(json_results)
    except (VideoInputError, OutputError) as e:
        outputs.discard()
        raise DemoError(str(e)) from None
    except BaseException:
        outputs.discard()
        raise
    written = ', '.join(p for p in (args.out, args.out_json, args.out_frames) if p)
    encoder = f' ({outputs.video_backend})' if outputs.video_backend else ''
    return (f'\n{tracks.num_frames} frames, {len(json_results)} instances ({tracks.count_shown(args.score_thr)} with '
            f'score >= {args.score_thr:g}), {time.time() - start_time:.1f} s, peak memory '
            f'{peak_memory_mb(args.device):.0f} MB -> {written}{encoder}')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        print(run(args))
    except DemoError as e:
        print(f'error: {e}', file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == '__main__':
    sys.exit(main())
