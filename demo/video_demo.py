"""Segment and track every instance of a video with SeqFormer; write the drawn video and YouTube-VIS json.

    python demo/video_demo.py INPUT [CONFIG] [CHECKPOINT] [--out OUT.mp4] [--out-json results.json]
        [--out-frames DIR] [--overwrite] [--fps F] [--device cpu|cuda:0] [--score-thr 0.3]
        [--chunk-size N] [--max-frames N] [--frame-stride N] [--window-size L [--window-stride S]]

INPUT: a video file (mp4/avi/mov/... readable by OpenCV), a folder of frames or a quoted glob of images.
CONFIG/CHECKPOINT default to the shipped toy model. ``--out`` defaults to ``outputs/<input name>_seqformer.mp4``
(relative to the current folder). Bad input prints one error line and exits with status 2. Outputs are written
under a temporary name and renamed when complete; existing outputs are kept unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_CONFIG = REPO / 'configs/seqformer/seqformer_mbv2-toy_1xb2-1100i_toy.py'
DEFAULT_CHECKPOINT = REPO / 'demo/checkpoints/seqformer_mbv2-toy_toy.pth'
EXIT_BAD_INPUT = 2


class DemoError(Exception):
    """Bad input or arguments: reported as one line, exit status 2."""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='SeqFormer video instance segmentation demo')
    parser.add_argument('input', help='video file, folder of frames, or quoted glob of images')
    parser.add_argument('config', nargs='?', default=str(DEFAULT_CONFIG), help='config (default: toy model)')
    parser.add_argument('checkpoint', nargs='?', default=str(DEFAULT_CHECKPOINT),
                        help='checkpoint (default: the shipped toy model)')
    parser.add_argument('--out', help='output video (.mp4 or .avi; default outputs/<input name>_seqformer.mp4)')
    parser.add_argument('--out-json', help='write YouTube-VIS results json (RLE per frame) here')
    parser.add_argument('--out-frames', help='write the drawn frames as JPEGs into this folder')
    parser.add_argument('--no-video', action='store_true', help='do not write the output video')
    parser.add_argument('--overwrite', action='store_true', help='replace existing outputs')
    parser.add_argument('--fps', type=float, help='frame rate of frame folders (default 10); videos keep theirs')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    parser.add_argument('--score-thr', type=float, default=0.3, help='draw instances scoring at least this')
    parser.add_argument('--chunk-size', type=int, default=8, help='frames per backbone/encoder/mask chunk')
    parser.add_argument('--max-frames', type=int, help='use at most this many frames')
    parser.add_argument('--frame-stride', type=int, default=1, help='use every N-th frame')
    parser.add_argument('--topk', type=int, help='(query, class) pairs kept (default: config, official 10)')
    parser.add_argument('--window-size', type=int, help='windowed mode for very long videos: clip length')
    parser.add_argument('--window-stride', type=int, help='windowed mode: clip stride (default half the window)')
    return parser.parse_args(argv)


def default_out(input_path: str) -> Path:
    name = Path(input_path.rstrip('/')).name
    stem = Path(name).stem if Path(name).suffix else name
    stem = ''.join(c if c.isalnum() or c in '-_.' else '_' for c in stem) or 'video'
    return Path('outputs') / f'{stem}_seqformer.mp4'


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
    for what, path in (('config', args.config), ('checkpoint', args.checkpoint)):
        if not os.path.isfile(path):
            raise DemoError(f'{path}: no such {what} file')
    if args.device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            raise DemoError(f'--device {args.device}: no CUDA device is available (use --device cpu)')
    if args.no_video:
        args.out = None
    else:
        args.out = args.out or str(default_out(args.input))
        if Path(args.out).suffix.lower() not in ('.mp4', '.avi'):
            raise DemoError(f'{args.out}: output video must end in .mp4 or .avi')
    inputs = {os.path.realpath(args.input)} if os.path.exists(args.input) else set()
    for flag, path in (('--out', args.out), ('--out-json', args.out_json), ('--out-frames', args.out_frames)):
        if path is None:
            continue
        if os.path.realpath(path) in inputs:
            raise DemoError(f'{flag} {path} is the input itself')
        if os.path.exists(path) and not args.overwrite:
            raise DemoError(f'{path} exists: pass --overwrite to replace it')
    if not any((args.out, args.out_json, args.out_frames)):
        raise DemoError('nothing to write: --no-video needs --out-json or --out-frames')


class Outputs:
    """Temporary outputs next to their final paths, renamed into place only by :meth:`commit`."""

    def __init__(self, args: argparse.Namespace, fps: float) -> None:
        self.args, self.fps = args, fps
        self.writer = None
        self.video_tmp = self.frames_tmp = None
        if args.out_frames:
            parent = Path(args.out_frames).resolve().parent
            parent.mkdir(parents=True, exist_ok=True)
            self.frames_tmp = tempfile.mkdtemp(prefix=f'.{Path(args.out_frames).name}.partial-', dir=parent)

    def write(self, index: int, frame_bgr) -> None:
        import cv2
        if self.args.out:
            if self.writer is None:
                out = Path(self.args.out).resolve()
                out.parent.mkdir(parents=True, exist_ok=True)
                self.video_tmp = str(out.parent / f'.{out.stem}.partial-{os.getpid()}{out.suffix}')
                fourcc = cv2.VideoWriter_fourcc(*('mp4v' if out.suffix.lower() == '.mp4' else 'MJPG'))
                h, w = frame_bgr.shape[:2]
                self.writer = cv2.VideoWriter(self.video_tmp, fourcc, self.fps, (w, h))
                if not self.writer.isOpened():
                    raise DemoError(f'{self.args.out}: OpenCV cannot write this video format here')
            self.writer.write(frame_bgr)
        if self.frames_tmp:
            cv2.imwrite(os.path.join(self.frames_tmp, f'{index:06d}.jpg'), frame_bgr)

    def commit(self, results_json: Optional[list]) -> None:
        if self.writer is not None:
            self.writer.release()
            os.replace(self.video_tmp, self.args.out)
            self.video_tmp = None
        if self.frames_tmp:
            _replace_dir(self.frames_tmp, self.args.out_frames)
            self.frames_tmp = None
        if results_json is not None and self.args.out_json:
            out = Path(self.args.out_json).resolve()
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.parent / f'.{out.name}.partial-{os.getpid()}'
            with open(tmp, 'w') as f:
                json.dump(results_json, f)
            os.replace(tmp, out)

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.release()
        if self.video_tmp and os.path.exists(self.video_tmp):
            os.remove(self.video_tmp)
        if self.frames_tmp:
            shutil.rmtree(self.frames_tmp, ignore_errors=True)


def _replace_dir(new: str, final: str) -> None:
    """Move folder ``new`` to ``final``; an existing ``final`` is moved aside first and deleted last."""
    old = None
    if os.path.exists(final):
        old = tempfile.mkdtemp(prefix=f'.{Path(final).name}.old-', dir=Path(final).resolve().parent)
        os.rmdir(old)
        os.replace(final, old)
    os.replace(new, final)
    if old:
        shutil.rmtree(old, ignore_errors=True) if os.path.isdir(old) else os.remove(old)


def run(args: argparse.Namespace) -> str:
    check_args(args)
    import numpy as np
    from mmengine.utils import ProgressBar
    from pycocotools import mask as mask_util

    from mmseqformer.apis import (CheckpointError, ConfigError, VideoInputError, VideoSource, init_model,
                                  iter_video_results)
    from mmseqformer.utils.stage_profiler import peak_memory_mb
    from mmseqformer.visualization import VISLocalVisualizer

    start_time = time.time()
    try:
        source = VideoSource(args.input, args.max_frames, args.frame_stride, fps=args.fps)
        model = init_model(args.config, args.checkpoint, device=args.device)
    except (VideoInputError, CheckpointError, FileNotFoundError) as e:
        raise DemoError(str(e)) from None
    except ConfigError as e:
        raise DemoError(f'{args.config}: {e}') from None
    except OSError as e:  # e.g. a folder or file without read permission
        raise DemoError(f'{e.filename or args.input}: {e.strerror or e}') from None
    total = source.expected_frames()
    print(f'{source.name}: ~{total} frames at {source.fps:g} fps, model {Path(args.config).name}', flush=True)
    bars: Dict[str, object] = {}

    def progress(stage: str, done: int, count: int) -> None:
        if stage == 'masks':
            return
        bar = bars.get(stage)
        if bar is None:
            print('reading + encoding frames:' if stage == 'encode' else stage, flush=True)
            bar = bars[stage] = ProgressBar(max(count, 1))
        bar.update()

    visualizer = VISLocalVisualizer(alpha=0.5, line_width=2)
    visualizer.dataset_meta = model.dataset_meta
    outputs = Outputs(args, source.fps)
    tracks: Dict[int, dict] = {}
    num_frames = 0
    try:
        results = iter_video_results(model, source, chunk_size=args.chunk_size, topk=args.topk,
                                     window_size=args.window_size, window_stride=args.window_stride,
                                     progress=progress)
        frames = None
        write_bar = None
        for t, sample in enumerate(results):
            if frames is None:  # the first result arrives once the whole video has been read and encoded
                print('\ndecoding, drawing and writing:', flush=True)
                write_bar = ProgressBar(max(sample.metainfo['video_length'], 1))
                frames = iter(source)
            frame = next(frames)
            inst = sample.pred_track_instances
            masks = inst.masks.cpu().numpy()
            for k, tid in enumerate(inst.instances_id.tolist()):
                tr = tracks.setdefault(tid, dict(label=int(inst.labels[k]), scores=[], rles={}, nonempty=False))
                tr['scores'].append(float(inst.scores[k]))
                tr['nonempty'] = tr['nonempty'] or bool(masks[k].any())
                rle = mask_util.encode(np.asfortranarray(masks[k].astype(np.uint8)))
                rle['counts'] = rle['counts'].decode()
                tr['rles'][t] = rle
            if args.out or args.out_frames:
                # an instance absent from this frame (empty mask) is not drawn: it would get a box at (0, 0)
                shown = inst[(inst.scores >= args.score_thr) & inst.masks.flatten(1).any(1)]
                visualizer.add_datasample('frame', frame[:, :, ::-1], data_sample=_as_sample(sample, shown),
                                          draw_gt=False, show=False)
                outputs.write(t, visualizer.get_image()[:, :, ::-1])
            num_frames += 1
            write_bar.update()
        json_results = []
        for tr in tracks.values():
            if not tr['nonempty']:
                continue  # official: a pair with an empty mask in every frame is dropped
            json_results.append(dict(video_id=1, score=float(np.mean(tr['scores'])), category_id=tr['label'] + 1,
                                     segmentations=[tr['rles'].get(t) for t in range(num_frames)]))
        outputs.commit(json_results)
    except VideoInputError as e:
        outputs.discard()
        raise DemoError(str(e)) from None
    except BaseException:
        outputs.discard()
        raise
    shown_ids = {tid for tid, tr in tracks.items() if np.mean(tr['scores']) >= args.score_thr}
    written = ', '.join(p for p in (args.out, args.out_json, args.out_frames) if p)
    return (f'\n{num_frames} frames, {len(json_results)} instances ({len(shown_ids)} with score >= '
            f'{args.score_thr:g}), {time.time() - start_time:.1f} s, peak memory '
            f'{peak_memory_mb(args.device):.0f} MB -> {written}')


def _as_sample(sample, instances):
    from mmdet.structures import DetDataSample
    out = DetDataSample(metainfo=sample.metainfo)
    out.pred_track_instances = instances
    return out


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
