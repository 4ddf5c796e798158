"""Setting up an mmengine runner from a tool's arguments: what ``tools/train.py`` and ``tools/test.py`` share.

Config loading (``--cfg-options``, ``--work-dir``, ``--launcher``), distributed init without CUDA, up-front
checks of annotation files, of the weights a training run starts from and of checkpoints, building the runner,
and :func:`guarded_main`, which turns user errors into one line with exit status 2. Every user error is a
:class:`~mmseqformer.utils.cli.CliError`.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import os.path as osp
import re
import sys
import traceback
from typing import Any, Callable, List, Optional, Tuple

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.model import is_model_wrapper
from mmengine.registry import MODEL_WRAPPERS, RUNNERS
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel

from ..datasets import YTVISFormatError, check_config_annotations
from ..utils.cli import CliError, KeyValueAction
from ..utils.config_check import suspicious_keys
from .checkpoint import CheckpointError, check_model_checkpoint, read_checkpoint


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments train.py and test.py share."""
    parser.add_argument('--work-dir', help='folder for logs and checkpoints (default ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=KeyValueAction, default=[], metavar='KEY=VALUE',
                        help='override config entries, e.g. train_cfg.max_iters=200 (xxx=[a,b] for lists)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (dist_train.sh / dist_test.sh pass pytorch)')
    # torch.distributed.launch passes --local-rank (older torch: --local_rank); torchrun sets LOCAL_RANK
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0, help=argparse.SUPPRESS)


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
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'  # nccl needs CUDA
    # mmengine wraps the model with device_ids=[LOCAL_RANK], which DDP rejects for a CPU module
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
        if not dist.is_initialized():
            kwargs = {k: v for k, v in dist_cfg.items() if k != 'backend'}
            if 'timeout' in kwargs:
                kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
            dist.init_process_group(backend='gloo', **kwargs)


def is_remote(path: str) -> bool:
    """Whether a checkpoint path is a URL (``https://``, ``torchvision://``, ``open-mmlab://``, ``s3://``, ...)."""
    return '://' in path


def pretrained_checkpoints(node: Any, key: str = 'model') -> List[Tuple[str, str]]:
    """``(key path, checkpoint)`` of every ``Pretrained`` init_cfg under ``node``, at any depth.

    ``init_cfg`` may be a dict or a list of dicts; a key path reads ``model.detector.backbone.init_cfg`` or
    ``model.backbone.init_cfg[1]``.
    """
    found = []
    if isinstance(node, dict):
        kind = node.get('type')
        kind = getattr(kind, '__name__', kind)  # a class in pure-Python (lazy import) configs
        if isinstance(kind, str) and kind.split('.')[-1] in ('Pretrained', 'PretrainedInit') \
                and isinstance(node.get('checkpoint'), str):
            found.append((key, node['checkpoint']))
        for name, value in node.items():
            found += pretrained_checkpoints(value, f'{key}.{name}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found += pretrained_checkpoints(value, f'{key}[{i}]')
    return found


def missing_start_weights(cfg: Any) -> List[Tuple[str, str]]:
    """``(key path, file)`` of the local weights files a training run of ``cfg`` reads that do not exist.

    Those are the ``Pretrained`` init_cfgs of ``cfg.model`` (mmengine loads them in ``runner.train()``, even when
    ``load_from`` or ``resume`` replaces the weights afterwards) and ``load_from``; URLs are not checked.
    """
    wanted = pretrained_checkpoints(cfg.get('model'))
    if isinstance(cfg.get('load_from'), str):
        wanted.append(('load_from', cfg.load_from))
    return [(key, path) for key, path in wanted if not is_remote(path) and not osp.isfile(osp.expanduser(path))]


def weights_hint(config: Optional[str]) -> str:
    """Where to look for missing weights: the README of the config's folder where there is one."""
    readme = osp.join(osp.dirname(config), 'README.md') if config else ''
    where = f'{readme} says where to get it' if readme and osp.isfile(readme) else 'download it'
    return f'{where}, or set the key to another file with --cfg-options (an init_cfg of None trains from scratch)'


def check_start_weights(cfg: Any) -> None:
    """Raise :class:`CliError` naming every missing local file of :func:`missing_start_weights` and its key.

    mmengine would fail with a traceback inside ``runner.train()``, after the runner wrote its work_dir.
    """
    missing = missing_start_weights(cfg)
    if missing:
        files = ', '.join(f'{path} ({key})' for key, path in missing)
        hint = weights_hint(getattr(cfg, 'filename', None))
        raise CliError(f'weights file not found: {files}; {hint}')


def check_annotations(cfg: Any, loaders: tuple) -> None:
    """Validate the CocoVID annotation files of ``loaders`` up front, raising :class:`CliError` for the first problem.

    mmdet's video datasets skip unusable boxes and unknown categories silently and fail late on missing keys.
    """
    try:
        check_config_annotations(cfg, loaders)
    except YTVISFormatError as e:
        raise CliError(f'annotation file {e}') from None


def build_runner(cfg: Any) -> Any:
    """The runner of ``cfg`` (``runner_type`` or mmengine's ``Runner``); any error is a :class:`CliError`."""
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


def check_checkpoint_fits_config(cfg: Any, path: str) -> None:
    """Raise :class:`CliError` unless the checkpoint at ``path`` fits the config's model exactly.

    Checked on a model built from ``cfg.model`` alone, before the runner exists, so that a wrong checkpoint
    leaves nothing behind (the runner writes its work_dir, logs and config copy as it is built).
    """
    if '://' in path:
        return
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    scope = cfg.get('default_scope', 'mmdet')
    try:
        with DefaultScope.overwrite_default_scope(scope):
            model = MODELS.build(cfg.model)
    except Exception as e:
        raise CliError(f'cannot build the model: {dataset_error_line(e)}') from None
    try:
        check_model_checkpoint(model, path)
    except (CheckpointError, FileNotFoundError) as e:
        raise CliError(str(e)) from None


def use_exported_model(cfg: Any, deploy_dir: str, backend: str) -> None:
    """Run the config's test with the graphs ``tools/deployment/export_onnx.py`` wrote in ``deploy_dir``.

    The folder is checked against the config (one line, before the runner writes anything); ``cfg.model`` is
    wrapped in an :class:`~mmseqformer.deploy.ExportedClipModel` (the config's test rules still apply) and nothing
    is loaded from a checkpoint.
    """
    from mmengine.registry import DefaultScope

    from .deployed import BackendError, build_exported_model, exported_model_cfg
    try:
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
            build_exported_model(cfg, deploy_dir, backend)
    except (BackendError, CheckpointError) as e:
        raise CliError(str(e)) from None
    cfg.model = exported_model_cfg(cfg, deploy_dir, backend)
    cfg.load_from = None


def check_checkpoint(runner: Any, path: str, strict: bool) -> None:
    """Raise :class:`CliError` for an unreadable checkpoint, or with ``strict`` for one that does not fit the model."""
    if '://' in path:
        return
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    try:
        if strict:
            check_model_checkpoint(model, path)
        else:
            read_checkpoint(path)
    except (CheckpointError, FileNotFoundError) as e:
        raise CliError(str(e)) from None
