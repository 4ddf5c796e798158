"""Speed, compute efficiency and peak memory of a VIS model's inference (or training) on a generated clip.

    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT] --frames 36 --short-side 360 [--aspect 16:9]
        [--device cpu|cuda] [--repeat 3] [--warmup 1] [--chunk-size 8] [--amp] [--train] [--json OUT.json]
        [--cfg-options model.test_cfg.window_size=36 ...] [--backend pytorch,onnxruntime,openvino --deploy-dir DIR]

Inference runs the production path (``mmseqformer.apis.iter_video_results``, i.e. the model's own
``predict_video`` with its ``test_cfg``, plus RLE encoding of every frame's masks) on a clip of moving shapes
generated at ``short side x aspect`` and written as JPEG frames to a temporary folder, which is read lazily as
the demo reads a video (so the clip takes no memory and frame decoding counts in ``other``). Stage times come
from wrapping the methods that the model names as its stages (``benchmark_stages()``; SeqFormer: backbone, neck,
encoder, decoder, mask_head, postprocess); ``postprocess`` also holds the RLE encoding; ``other`` is the rest
(frame reading, resize and normalization, linking, thresholds). Each stage also reports its peak memory (peak RSS
during its calls on CPU, reset through ``/proc/self/clear_refs``; ``torch.cuda.max_memory_allocated`` on CUDA).
``--cfg-options`` changes the config before the model is built (e.g. windowed decoding).
FLOPs are 2 x multiply-accumulates of convolutions, linear layers and matmuls
(``torch.utils.flop_counter``; deformable bilinear sampling counts 0) from one pass over the first
``--flops-frames`` frames. ``--frames 30,60,120,300`` measures each length in its own process (peak RSS never
decreases within one) and adds ``mem_by_frames``. ``--train`` times training iterations on T-frame clips.
Without CHECKPOINT the weights are random (nothing is read from disk or the web).
``--backend pytorch,onnxruntime --deploy-dir DIR`` times PyTorch (CHECKPOINT) and the graphs that
``tools/deployment/export_onnx.py`` exported into DIR side by side: one process, the same frames, repeats
interleaved; an exported model's stages are its graphs (encode, decode, masks) and its FLOPs are PyTorch's. Peak
memory is then that of the process holding all backends (measure memory with one backend per run).
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import subprocess
import sys
import tempfile
from typing import List, Optional

from mmengine.config import DictAction

from mmseqformer.utils.cli import ToolArgumentParser

PROG = 'benchmark.py'


def _lengths(text: str) -> List[int]:
    try:
        values = [int(v) for v in text.split(',') if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f'--frames must be integers separated by commas, got {text!r}') from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f'--frames must be >= 1, got {text!r}')
    return values


def _backends(text: str) -> List[str]:
    names = [v.strip() for v in text.split(',') if v.strip()]
    known = ('pytorch', 'onnxruntime', 'openvino')
    if not names or any(n not in known for n in names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f'--backend takes distinct names of {", ".join(known)}, got {text!r}')
    return names


def _aspect(text: str) -> float:
    try:
        w, h = (float(v) for v in text.split(':'))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f'--aspect must look like 16:9, got {text!r}') from None
    return w / h


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?', help='weights (default: random initialisation)')
    p.add_argument('--frames', type=_lengths, default=[36], help='clip length, or lengths like 30,60,120,300')
    p.add_argument('--short-side', type=int, default=360, help='frame short side in pixels (default 360)')
    p.add_argument('--aspect', type=_aspect, default=16 / 9, help='width:height (default 16:9)')
    p.add_argument('--device', default='cpu', help='cpu or cuda[:N] (default cpu)')
    p.add_argument('--repeat', type=int, default=3, help='timed runs, the median is reported (default 3)')
    p.add_argument('--warmup', type=int, default=1, help='untimed runs first (default 1)')
    p.add_argument('--chunk-size', type=int, default=8, help='frames per backbone/encoder/mask chunk (default 8)')
    p.add_argument('--flops-frames', type=int, default=16, help='frames of the FLOP-counting pass (default 16)')
    p.add_argument('--amp', action='store_true', help='autocast: fp16 on CUDA, bf16 on CPU')
    p.add_argument('--train', action='store_true', help='time training iterations instead of inference')
    p.add_argument('--batch-size', type=int, default=1, help='clips per training iteration (default 1)')
    p.add_argument('--backend', type=_backends, default=['pytorch'],
                   help='pytorch and/or onnxruntime, openvino, comma-separated: timed side by side on the same '
                        'frames, repeats interleaved (default pytorch)')
    p.add_argument('--deploy-dir', help='the folder tools/deployment/export_onnx.py wrote (for a runtime backend)')
    p.add_argument('--json', dest='json_out', help='write the results here (replaced atomically)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override config entries before the model is built, e.g. model.test_cfg.window_size=36')
    args = p.parse_args(argv)
    if not osp.isfile(args.config):
        p.error(f'{args.config}: no such config file')
    if args.checkpoint and not osp.isfile(args.checkpoint):
        p.error(f'{args.checkpoint}: no such checkpoint file')
    for name in ('short_side', 'repeat', 'chunk_size', 'flops_frames', 'batch_size'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.warmup < 0:
        p.error('--warmup must be >= 0')
    runtimes = [b for b in args.backend if b != 'pytorch']
    if runtimes and not (args.deploy_dir and osp.isdir(args.deploy_dir)):
        p.error(f'--backend {",".join(runtimes)} needs --deploy-dir, the folder tools/deployment/export_onnx.py wrote')
    if runtimes and args.train:
        p.error('--train times PyTorch training; exported models are for inference')
    if args.short_side < 32:
        p.error('--short-side must be >= 32 (the network stride)')
    if args.device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            p.error(f'--device {args.device}: CUDA is not available on this machine')
    elif args.device != 'cpu':
        p.error(f'--device must be cpu or cuda[:N], got {args.device!r}')
    return args


def frame_size(short_side: int, aspect: float) -> tuple:
    """(H, W) of a frame with the given short side and width/height ratio."""
    if aspect >= 1:
        return short_side, int(round(short_side * aspect))
    return int(round(short_side / aspect)), short_side


def run_lengths(args: argparse.Namespace, argv: List[str]) -> dict:
    """One child process per clip length; their results plus ``mem_by_frames``."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for length in args.frames:
            out = osp.join(tmp, f'{length}.json')
            child = _without_option(argv, ('--frames', '--json'))
            cmd = [sys.executable, osp.abspath(__file__), *child, '--frames', str(length), '--json', out]
            print(f'{PROG}: {length} frames ...', file=sys.stderr, flush=True)
            proc = subprocess.run(cmd)
            if proc.returncode != 0:
                raise SystemExit(proc.returncode)
            with open(out) as f:
                runs.append(json.load(f))
    result = dict(runs[0], frames=args.frames, runs=runs,
                  mem_by_frames={str(r['frames']): r['peak_mem_mb'] for r in runs})
    if len(runs) > 1:
        lo, hi = min(runs, key=lambda r: r['frames']), max(runs, key=lambda r: r['frames'])
        result['mem_growth_mb_per_frame'] = (hi['peak_mem_mb'] - lo['peak_mem_mb']) / (hi['frames'] - lo['frames'])
    return result


def _without_option(argv: List[str], names) -> List[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in names:
            skip = True
        elif not any(a.startswith(n + '=') for n in names):
            out.append(a)
    return out


def print_table(r: dict) -> None:
    """Human-readable summary on stdout (one table per backend, then their ratios)."""
    if r.get('side_by_side'):
        for name, result in r['backends'].items():
            print(f'[{name}]')
            print_table(result)
        if r['ratio_to_pytorch']:
            ratios = ', '.join(f'{b} {v:.3f}x' for b, v in r['ratio_to_pytorch'].items())
            print(f'  s/frame relative to pytorch: {ratios}')
        return
    head = (f"{r['mode']} | {r['device']} ({r['threads']} threads) | {r['frames']} frames at "
            f"{r['input_hw'][0]}x{r['input_hw'][1]} | {r['dtype']}")
    print(head)
    if r['mode'] == 'train':
        print(f"  {r['sec_per_iter']:.3f} s/iteration (batch {r['batch_size']}), peak memory {r['peak_mem_mb']:.0f} MB")
        return
    print(f"  {'stage':<12}{'s/frame':>10}{'share':>8}{'GFLOP/frame':>13}{'efficiency':>12}{'peak MB':>10}")
    for name in r['stages']:
        sec = r['stages'].get(name, 0.0)
        share = sec / r['sec_per_frame'] if r['sec_per_frame'] else 0.0
        gfl = r['stage_gflops_per_frame'].get(name, 0.0)
        eff = r['stage_efficiency'].get(name)
        eff_s = f'{eff:.3f}' if eff is not None else '-'
        peak = (r.get('stage_peak_mem_mb') or {}).get(name)
        peak_s = f'{peak:.0f}' if peak else '-'
        print(f'  {name:<12}{sec:>10.4f}{share:>8.1%}{gfl:>13.2f}{eff_s:>12}{peak_s:>10}')
    print(f"  {'total':<12}{r['sec_per_frame']:>10.4f}{1:>8.0%}{r['gflops_per_frame']:>13.2f}{r['efficiency']:>12.3f}")
    print(f"  {r['fps']:.2f} frames/s; matmul {r['matmul_gflops']:.1f} GFLOP/s; furthest from it: "
          f"{r['furthest_stage']}; peak memory {r['peak_mem_mb']:.0f} MB")
    for length, mb in (r.get('mem_by_frames') or {}).items():
        print(f'  peak memory at {length} frames: {mb:.0f} MB')
    if 'mem_growth_mb_per_frame' in r:
        print(f"  growth: {r['mem_growth_mb_per_frame']:.2f} MB per extra frame")


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if len(args.frames) > 1:
        result = run_lengths(args, argv)
    else:
        from mmseqformer.apis import CheckpointError, ConfigError
        from mmseqformer.apis.benchmark import benchmark_inference, benchmark_train
        run = benchmark_train if args.train else benchmark_inference
        try:
            result = run(args.config, args.checkpoint, args.frames[0], frame_size(args.short_side, args.aspect),
                         device=args.device, repeat=args.repeat, warmup=args.warmup, chunk_size=args.chunk_size,
                         flops_frames=args.flops_frames, amp=args.amp, batch_size=args.batch_size,
                         cfg_options=args.cfg_options, backends=args.backend, deploy_dir=args.deploy_dir)
        except (CheckpointError, ConfigError, FileNotFoundError, KeyError, TypeError, ValueError, SyntaxError) as e:
            # a config that names unknown types or arguments, or weights that do not fit it
            print(f'{PROG}: error: {args.config}: {str(e).strip().splitlines()[0]}', file=sys.stderr)
            return 2
    print_table(result)
    if args.json_out:
        from mmseqformer.utils.atomic_write import write_text_atomic
        write_text_atomic(args.json_out, json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
