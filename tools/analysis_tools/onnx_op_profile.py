"""Seconds per ONNX operator type of each graph of an exported model in ONNX Runtime (docs/deployment.md#speed).

    python tools/analysis_tools/onnx_op_profile.py CONFIG DIR [--frames 8] [--short-side 360] [--aspect 16:9]

Runs the exported graphs of DIR (tools/deployment/export_onnx.py) once to warm up and once profiled on a generated
clip resized and normalized as CONFIG's test pipeline does (encode on all its frames, decode on them, masks of 10
queries), with torch's thread count, and prints each graph's operator types by time. Bad input: one line, exit 2.
"""
import argparse
import sys
from typing import List, Optional

from mmseqformer.utils.cli import ToolArgumentParser

PROG = 'onnx_op_profile.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('deploy_dir')
    parser.add_argument('--frames', type=int, default=8, help='frames of the clip (default 8, the chunk size)')
    parser.add_argument('--short-side', type=int, default=360)
    parser.add_argument('--aspect', type=float, default=16 / 9, help='width / height (default 16/9)')
    args = parser.parse_args(argv)
    if args.frames < 1 or args.short_side < 32 or args.aspect <= 0:
        parser.error('--frames must be >= 1, --short-side >= 32, --aspect > 0')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from mmseqformer.apis import CheckpointError, ConfigError, FramePreprocessor, init_model
    from mmseqformer.apis.benchmark import make_frames
    from mmseqformer.apis.deployed import BackendError
    from mmseqformer.deploy.op_profile import profile_ops
    try:
        model = init_model(args.config, args.deploy_dir, backend='onnxruntime')
    except (CheckpointError, ConfigError, BackendError, FileNotFoundError) as e:
        print(f'{PROG}: error: {" ".join(str(e).split())}', file=sys.stderr)
        return 2
    h = args.short_side
    w = round(h * args.aspect)
    pre = FramePreprocessor(model)
    frames = pre.to_tensor([pre.resize_frame(f) for f in make_frames(args.frames, (h, w))], 'cpu')
    for graph, seconds in profile_ops(args.deploy_dir, frames).items():
        total = sum(seconds.values())
        print(f'{graph}: {total:.3f} s on {tuple(frames.shape)}')
        for op, sec in list(seconds.items())[:12]:
            print(f'  {op:<28}{sec:>9.3f} s{sec / total:>8.1%}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
