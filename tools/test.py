"""Test (evaluate) a checkpoint (mmdet 3.x ``tools/test.py`` semantics).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl] [--show-dir DIR]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
    python tools/test.py CONFIG EXPORTED_DIR --backend onnxruntime|openvino   (docs/deployment.md)

Runs the config's ``test_dataloader`` / ``test_evaluator`` (``YouTubeVISMetric``: local AP on a split with
ground truth; with ``test_evaluator.format_only=True test_evaluator.outfile_prefix=PREFIX`` it writes
``PREFIX.json`` and the server submission ``PREFIX.submission_file.zip`` instead). ``--out`` pickles the
per-video predictions (``DumpVISResults``); ``--show-dir`` draws them (``work_dir/<timestamp>/DIR`` for a
relative DIR). Existing output files are never replaced. Bad input prints one error line and exits with 2.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import time
from typing import Any, List, Optional

from mmseqformer.apis.deployed import BACKENDS
from mmseqformer.apis.runner_setup import (add_common_args, build_runner, check_annotations,
                                           check_checkpoint_fits_config, guarded_main, load_config, setup_device,
                                           use_exported_model)
from mmseqformer.evaluation import DumpVISResults
from mmseqformer.utils.cli import CliError, ToolArgumentParser
from mmseqformer.utils.dist_exit import run_main

PROG = 'test.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (with --backend: the exported folder)')
    parser.add_argument('--backend', default='pytorch', choices=BACKENDS,
                        help='pytorch, or a runtime of the graphs tools/deployment/export_onnx.py wrote')
    parser.add_argument('--out', help='pickle the per-video predictions here (.pkl/.pickle; must not exist)')
    parser.add_argument('--show', action='store_true', help='show drawn predictions in a window')
    parser.add_argument('--show-dir', help='save drawn predictions here (relative: under work_dir/<timestamp>)')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds each shown frame stays (--show)')
    add_common_args(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _evaluators(cfg_evaluator: Any) -> List[Any]:
    if cfg_evaluator is None:
        return []
    return list(cfg_evaluator) if isinstance(cfg_evaluator, (list, tuple)) else [cfg_evaluator]


def setup_format_only(cfg: Any) -> List[str]:
    """Give ``format_only`` metrics an output prefix and refuse to replace existing outputs.

    Without ``outfile_prefix`` mmdet writes into a temporary folder that is deleted right away, so the
    submission would be lost: default to ``work_dir/results_<time>``.
    """
    written = []
    for metric in _evaluators(cfg.get('test_evaluator')):
        if metric.get('type') != 'YouTubeVISMetric' or not metric.get('format_only', False):
            continue
        if not metric.get('outfile_prefix'):
            metric['outfile_prefix'] = osp.join(cfg.work_dir, time.strftime('results_%Y%m%d_%H%M%S'))
        prefix = metric['outfile_prefix']
        for path in (f'{prefix}.json', f'{prefix}.submission_file.zip'):
            if osp.exists(path):
                raise CliError(f'{path} exists; not overwriting it (choose another outfile_prefix)')
        written.append(f'{prefix}.submission_file.zip')
    return written


def setup_visualization(cfg: Any, args: argparse.Namespace) -> None:
    """mmdet's ``trigger_visualization_hook``, with the YouTube-VIS-folder aware hook."""
    hooks = cfg.get('default_hooks') or {}
    if 'visualization' not in hooks:
        raise CliError('--show/--show-dir need default_hooks.visualization in the config')
    hook = hooks['visualization']
    if hook.get('type') in ('TrackVisualizationHook', 'mmdet.TrackVisualizationHook'):
        hook['type'] = 'VideoVisualizationHook'
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        hook['test_out_dir'] = args.show_dir


def test(args: argparse.Namespace) -> int:
    exported = args.backend != 'pytorch'  # the folder is checked by use_exported_model
    if not exported and not osp.isfile(args.checkpoint) and '://' not in args.checkpoint:
        raise CliError(f'checkpoint {args.checkpoint}: no such file')
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise CliError(f'--out {args.out}: the dump file must end with .pkl or .pickle')
        if osp.exists(args.out):
            raise CliError(f'--out {args.out} exists; not overwriting it')
    cfg = load_config(args)
    if exported:
        use_exported_model(cfg, args.checkpoint, args.backend)
    else:
        cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        setup_visualization(cfg, args)
    submissions = setup_format_only(cfg)
    check_annotations(cfg, ('test_dataloader',))
    setup_device(cfg)
    # mmengine loads test weights non-strictly (warnings only): evaluating a model whose weights partly did not
    # load would report meaningless figures, so a checkpoint must fit the model exactly; checked before the runner
    # writes anything
    if not exported:
        check_checkpoint_fits_config(cfg, args.checkpoint)
    runner = build_runner(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(DumpVISResults(out_file_path=args.out))  # builds the test loop
    runner.test()
    for path in submissions:
        if osp.isfile(path):
            runner.logger.info(f'submission file: {path}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return guarded_main(test, args, PROG)


if __name__ == '__main__':
    run_main(main)
