"""Train a model from a config (mmdet 3.x ``tools/train.py`` semantics).

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--auto-scale-lr] [--resume [CKPT]]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi] [--local-rank N]

``--resume`` without a value resumes from the latest checkpoint in the work dir. Multi-process runs go
through ``tools/dist_train.sh``; without CUDA the distributed backend becomes gloo, so they work on CPU.
A bad config, a bad ``--cfg-options`` entry, an unknown component type or an annotation file that cannot be
read (missing, not JSON, keys missing) or does not hold together (unknown ids, frame numbers, boxes outside the
image, degenerate polygons, RLE of the wrong size; the line names the file) prints one error line and exits with 2;
Ctrl-C exits with 130.

This file also holds the setup shared with ``tools/test.py`` (config loading, CPU distributed init, the
guarded main).
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import re
import sys
import traceback
from typing import Any, Callable, List, NoReturn, Optional

PROG = 'train.py'


class CliError(Exception):
    """A user error: reported as one line on stderr with exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one line instead of argparse's usage block
        self.exit(2, f'{self.prog}: error: {message}\n')


class KeyValueAction(argparse.Action):
    """``k=v`` pairs, checked here; values are parsed by mmengine's ``DictAction`` once it is imported."""

    def __call__(self, parser, namespace, values, option_string=None):
        for kv in values:
            if '=' not in kv or not kv.split('=', 1)[0]:
                parser.error(f'{option_string} expects key=value pairs, got {kv!r}')
        setattr(namespace, self.dest, list(values))


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments train.py and test.py share."""
    parser.add_argument('--work-dir', help='folder for logs and checkpoints (default ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=KeyValueAction, default=[], metavar='KEY=VALUE',
                        help='override config entries, e.g. train_cfg.max_iters=200 (xxx=[a,b] for lists)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (dist_train.sh / dist_test.sh pass pytorch)')
    # torch.distributed.launch passes --local-rank (older torch: --local_rank); torchrun sets LOCAL_RANK
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0, help=argparse.SUPPRESS)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = Parser(prog=PROG, description=__doc__.split('\n')[0])
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


def one_line(e: BaseException) -> str:
    """An exception as one line; mmengine nests registry errors, so the innermost cause is the useful part."""
    msg = ' '.join(str(e).split())
    if isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str):
        msg = ' '.join(e.args[0].split())  # str(KeyError) adds quotes
    match = re.search(r'(\S+) is not in the (\S+) registry', msg)
    if match:
        return f'unknown type {match.group(1).strip(chr(39) + chr(34) + "`")!r}: not in the {match.group(2)} ' \
               'registry (check the type name, or that its module is imported via custom_imports)'
    return f'{type(e).__name__}: {msg}'


def raised_while_building(e: BaseException) -> bool:
    """Whether ``e`` came out of mmengine's registry build, i.e. from constructing a component of the config.

    The runner builds datasets, pipelines, hooks and loops lazily inside ``train()``/``test()``; an unknown
    type, a wrong argument or a missing annotation file surfaces there and is a config error, not a bug.
    """
    suffix = osp.join('mmengine', 'registry', 'build_functions.py')
    return any(frame.f_code.co_filename.endswith(suffix) for frame, _ in traceback.walk_tb(e.__traceback__))


def annotation_file(e: BaseException) -> Optional[str]:
    """The ``ann_file`` of the dataset whose annotation loading raised ``e`` (or a cause of it), else None.

    mmengine's datasets read their annotation file in ``full_init`` -> ``load_data_list``; the innermost such
    frame of the traceback names the file (its ``self.ann_file``, already joined with ``data_root``).
    """
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        for frame, _ in reversed(list(traceback.walk_tb(e.__traceback__))):
            if frame.f_code.co_name in ('load_data_list', 'full_init'):
                ann_file = getattr(frame.f_locals.get('self'), 'ann_file', None)
                if isinstance(ann_file, str) and ann_file:
                    return ann_file
        e = e.__cause__ or e.__context__
    return None


def dataset_error_line(e: BaseException) -> str:
    """``one_line(e)``, naming the annotation file when ``e`` was raised while a dataset read it."""
    msg = one_line(e)
    ann_file = annotation_file(e)
    if ann_file is None:
        return msg
    if isinstance(e, (json.JSONDecodeError, UnicodeDecodeError)):
        return f'annotation file {ann_file}: not valid JSON ({msg})'
    if isinstance(e, KeyError):
        return (f'annotation file {ann_file}: a required key is missing ({msg}); the datasets read the CocoVID '
                'layout that tools/dataset_converters/youtubevis2coco.py writes')
    return msg if ann_file in msg else f'annotation file {ann_file}: {msg}'


def load_config(args: argparse.Namespace) -> Any:
    """``Config.fromfile`` + ``--cfg-options`` + ``--work-dir`` + ``--launcher``, raising :class:`CliError`."""
    if not osp.isfile(args.config):
        raise CliError(f'config {args.config}: no such file')
    from mmengine.config import Config, DictAction
    try:
        cfg = Config.fromfile(args.config)
    except Exception as e:  # syntax errors, missing _base_ files, bad imports: all user errors here
        raise CliError(f'cannot load config {args.config}: {one_line(e)}') from None
    if args.cfg_options:
        parsed = argparse.Namespace()
        DictAction(option_strings=['--cfg-options'], dest='opts')(None, parsed, args.cfg_options)
        try:
            cfg.merge_from_dict(parsed.opts)
        except Exception as e:
            raise CliError(f'cannot apply --cfg-options: {one_line(e)}') from None
    from mmseqformer.utils.config_check import suspicious_keys
    for message in suspicious_keys(cfg.keys()):
        print(f'warning: {args.config}: {message}', file=sys.stderr)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def setup_device(cfg: Any) -> None:
    """Make a multi-process run work without CUDA (gloo, CPU DDP); a no-op with CUDA or ``--launcher none``."""
    import torch
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'  # nccl needs CUDA
    # mmengine wraps the model with device_ids=[LOCAL_RANK], which DDP rejects for a CPU module
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                                                   find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    wrapper_cls = MODEL_WRAPPERS.get(wrapper_type) if isinstance(wrapper_type, str) else wrapper_type
    if isinstance(wrapper_cls, type) and issubclass(wrapper_cls, DistributedDataParallel):
        wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if cfg.launcher == 'pytorch':
        # mmengine's init_dist calls torch.cuda.set_device, which fails on a CPU-only torch; a process group
        # that already exists makes the runner skip it
        import datetime

        import torch.distributed as dist
        if not dist.is_initialized():
            kwargs = {k: v for k, v in dist_cfg.items() if k != 'backend'}
            if 'timeout' in kwargs:
                kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
            dist.init_process_group(backend='gloo', **kwargs)


def check_annotations(cfg: Any, loaders: tuple) -> None:
    """Validate the CocoVID annotation files of ``loaders`` up front, raising :class:`CliError` for the first problem.

    mmdet's video datasets skip unusable boxes and unknown categories silently and fail late on missing keys.
    """
    from mmseqformer.datasets import YTVISFormatError, check_config_annotations
    try:
        check_config_annotations(cfg, loaders)
    except YTVISFormatError as e:
        raise CliError(f'annotation file {e}') from None


def build_runner(cfg: Any) -> Any:
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    try:
        return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    except Exception as e:
        # every error while building from a config that loaded is a config problem (unknown type,
        # missing argument, missing file); report it in one line
        raise CliError(f'cannot build the runner: {dataset_error_line(e)}') from None


def guarded_main(main: Callable[[argparse.Namespace], int], args: argparse.Namespace, prog: str) -> int:
    """Run ``main`` mapping user errors to one line + 2 and Ctrl-C to a quiet 130.

    ``MMSEQFORMER_TRACEBACK=1`` in the environment shows the traceback of a config error instead (a bug in
    a component's constructor also surfaces as an error while building).
    """
    show_traceback = os.environ.get('MMSEQFORMER_TRACEBACK', '') not in ('', '0')
    try:
        return main(args)
    except CliError as e:
        if show_traceback and e.__context__ is not None:
            raise e.__context__ from None
        print(f'{prog}: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if type(e).__name__ == 'NonFiniteLossError' and not show_traceback:
            print(f'{prog}: error: {e}', file=sys.stderr)  # a diverged run, not a bug: no traceback
            return 1
        if show_traceback or not raised_while_building(e):
            raise
        print(f'{prog}: error: {dataset_error_line(e)}', file=sys.stderr)
        return 2


def train(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    # the compat shims (checkpoint loading on torch >= 2.6) must be in place even if a config lacks
    # custom_imports
    import mmseqformer  # noqa: F401
    import torch
    from mmdet.utils import setup_cache_size_limit_of_dynamo

    setup_cache_size_limit_of_dynamo()
    if args.amp:
        from mmseqformer.engine import use_mixed_precision
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
    setup_device(cfg)
    runner = build_runner(cfg)
    if cfg.get('resume'):
        from mmengine.runner import find_latest_checkpoint
        path = cfg.get('load_from') or find_latest_checkpoint(cfg.work_dir)
        if path:  # resuming needs every weight of the model; load_from alone may fine-tune from a partial one
            check_checkpoint(runner, path, strict=True)
    elif cfg.get('load_from'):
        check_checkpoint(runner, cfg.load_from, strict=False)
    runner.train()
    return 0


def check_checkpoint(runner: Any, path: str, strict: bool) -> None:
    """Raise :class:`CliError` for an unreadable checkpoint, or with ``strict`` for one that does not fit the model."""
    if '://' in path:
        return
    from mmengine.model import is_model_wrapper

    from mmseqformer.apis.checkpoint import CheckpointError, check_model_checkpoint, read_checkpoint
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    try:
        if strict:
            check_model_checkpoint(model, path)
        else:
            read_checkpoint(path)
    except (CheckpointError, FileNotFoundError) as e:
        raise CliError(str(e)) from None


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return guarded_main(train, args, PROG)


if __name__ == '__main__':
    sys.exit(main())
