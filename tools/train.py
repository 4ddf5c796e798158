"""Train a model from a config (mmdet 3.x ``tools/train.py`` semantics).

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--auto-scale-lr] [--resume [CKPT]]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi] [--local-rank N]

``--resume`` without a value resumes from the latest checkpoint in the work dir. Multi-process runs go
through ``tools/dist_train.sh``; without CUDA the distributed backend becomes gloo, so they work on CPU.
A bad config, a bad ``--cfg-options`` entry, an unknown component type or an annotation file that cannot be
read (missing, not JSON, keys missing) or does not hold together (unknown ids, frame numbers, boxes outside the
image, degenerate polygons, RLE of the wrong size; the line names the file) prints one error line and exits with 2;
Ctrl-C exits with 130.

The set-up shared with ``tools/test.py`` (config loading, CPU distributed init, the guarded main) is in
``mmseqformer/apis/runner_setup.py``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
from typing import List, Optional

import torch
from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmengine.runner import find_latest_checkpoint

from mmseqformer.apis.runner_setup import (add_common_args, build_runner, check_annotations, check_checkpoint,
                                           check_start_weights, guarded_main, load_config, setup_device)
from mmseqformer.engine import use_mixed_precision
from mmseqformer.utils.cli import CliError, ToolArgumentParser
from mmseqformer.utils.dist_exit import run_main

PROG = 'train.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 with loss scaling on GPU (AmpOptimWrapper), bfloat16 autocast '
                             'on CPU (AutocastOptimWrapper)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', const='auto', metavar='CKPT',
                        help='resume from CKPT, or without a value from the latest checkpoint in the work dir')
    add_common_args(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def train(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    setup_cache_size_limit_of_dynamo()
    if args.amp:
        use_mixed_precision(cfg.optim_wrapper, 'cuda' if torch.cuda.is_available() else 'cpu')
    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr')
        if not scale or 'base_batch_size' not in scale:
            raise CliError('--auto-scale-lr needs auto_scale_lr = dict(enable=..., base_batch_size=N) in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if '://' not in args.resume and not osp.isfile(args.resume):
            raise CliError(f'--resume {args.resume}: no such file')
        cfg.resume = True
        cfg.load_from = args.resume
    check_annotations(cfg, ('train_dataloader', 'val_dataloader') if cfg.get('val_cfg') else ('train_dataloader',))
    check_start_weights(cfg)  # init_cfg files and load_from (a test run reads neither)
    setup_device(cfg)
    runner = build_runner(cfg)
    if cfg.get('resume'):
        path = cfg.get('load_from') or find_latest_checkpoint(cfg.work_dir)
        if path:  # resuming needs every weight of the model; load_from alone may fine-tune from a partial one
            check_checkpoint(runner, path, strict=True)
    elif cfg.get('load_from'):
        check_checkpoint(runner, cfg.load_from, strict=False)
    runner.train()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return guarded_main(train, args, PROG)


if __name__ == '__main__':
    run_main(main)
