"""Generate the deterministic synthetic toy_vis dataset (YouTube-VIS + CocoVID json, JPEG frames).

    python tools/dataset_converters/make_toy_vis.py --out data/toy_vis --seed 0 [--num-train 48]
        [--num-valid 12] [--overwrite] [--summary-only]

The generator is mmseqformer/converters/toy_vis_generator.py. Bad arguments print one error line and exit with status 2.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional

from mmseqformer.converters import format_summary, generate_toy_vis, summarize
from mmseqformer.utils.cli import ToolArgumentParser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected an integer >= 1, got {value}')
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer, got {text!r}') from None
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {value}')
    return value


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog='make_toy_vis.py', description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='output folder, e.g. data/toy_vis')
    parser.add_argument('--seed', type=_seed, default=0, help='dataset seed (default 0)')
    parser.add_argument('--num-train', type=_count, default=48, help='number of training videos (default 48)')
    parser.add_argument('--num-valid', type=_count, default=12, help='number of validation videos (default 12)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing non-empty --out')
    parser.add_argument('--summary-only', action='store_true', help='only summarize an existing dataset at --out')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    prog = 'make_toy_vis.py'
    try:
        if not args.summary_only:
            start = time.perf_counter()
            out = generate_toy_vis(args.out, seed=args.seed, num_train=args.num_train, num_valid=args.num_valid,
                                   overwrite=args.overwrite)
            print(f'wrote {out} (seed {args.seed}) in {time.perf_counter() - start:.1f}s')
        summary = summarize(args.out)
    except (ValueError, OSError) as e:  # FileExistsError/FileNotFoundError are OSErrors
        print(f'{prog}: error: {e}', file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
