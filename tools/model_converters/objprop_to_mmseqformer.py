"""Convert an official ObjProp checkpoint (anirudh-chakravarthy/ObjProp, mmdet v1.0rc0) to an mmseqformer checkpoint.

    python tools/model_converters/objprop_to_mmseqformer.py SRC DST [--config CONFIG] [--overwrite]

SRC is what mmcv's v1 ``save_checkpoint`` writes (``{'state_dict': ..., 'meta': ..., 'optimizer': ...}``), a dict
with a ``model`` state dict, or a bare state dict; a DataParallel ``module.`` prefix is stripped. It is ObjProp's
MaskTrack R-CNN with the propagation head (``prop_head.*``), optionally the attention neck (``neck_attn.*``), or a
plain v1 MaskTrack R-CNN. The detector and track head become OnlineMaskTrackRCNN keys with mmdet-3 class layout
(fc_cls background last, no background rows in fc_reg and conv_logits; see
``mmseqformer/models/utils/objprop_converter.py``, which also lists the mmdet-v1 inference settings to use with
converted weights); ``prop_head.*``/``neck_attn.*`` keep their names. The result is checked against the model of
CONFIG (default: the R50 MaskTrack R-CNN YouTube-VIS 2019 config, with the backbone depth and class count of the
checkpoint) and the ObjProp head shapes. DST is ``{'state_dict': ..., 'meta': {...}}``. Bad input (another model's
checkpoint, missing keys, heads of different class counts, ...) prints one error line and exits with 2, writing
nothing; an existing DST is kept unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from mmseqformer.models.utils import objprop_converter as conv
from mmseqformer.utils.atomic_write import save_torch_atomic
from mmseqformer.utils.cli import CliError, ToolArgumentParser, check_conversion_paths
from mmseqformer.utils.file_digest import file_sha256
from mmseqformer.utils.official_checkpoint import UnreadableCheckpointError, read_checkpoint_file

PROG = 'objprop_to_mmseqformer.py'
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'masktrack_rcnn',
                          'masktrack-rcnn_mask-rcnn_r50_fpn_8xb1-12e_youtubevis2019.py')


class ConversionError(CliError):
    """Bad input; reported as one line with exit code 2."""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official ObjProp / mmdet-v1 MaskTrack R-CNN checkpoint (.pth)')
    parser.add_argument('dst', help='output mmseqformer checkpoint (.pth)')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='MaskTrack R-CNN config whose model checks the result')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing DST')
    return parser.parse_args(argv)


def read_checkpoint(path: str) -> Tuple[Dict[str, object], Dict[str, object]]:
    """(unwrapped state dict, the checkpoint's v1 ``meta`` or {}) of a checkpoint file."""
    obj = read_checkpoint_file(path)
    try:
        state_dict = conv.unwrap_checkpoint(obj)
    except ValueError as e:
        raise ConversionError(f'{path}: {e}') from e
    meta = obj.get('meta') if isinstance(obj, dict) else None
    return state_dict, meta if isinstance(meta, dict) else {}


def masktrack_shapes(config: str, depth: int, num_classes: int) -> Dict[str, Tuple[int, ...]]:
    """Key shapes of the MaskTrack R-CNN of ``config`` with the checkpoint's depth and classes (built on the meta
    device: no memory, no init)."""
    import torch
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmseqformer  # noqa: F401  (registers OnlineMaskTrackRCNN even without custom_imports)

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    cfg.merge_from_dict(dict(model=dict(detector=dict(
        backbone=dict(depth=depth),
        roi_head=dict(bbox_head=dict(num_classes=num_classes), mask_head=dict(num_classes=num_classes))))))
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def convert(state_dict: Dict[str, object], config: str = DEFAULT_CONFIG) -> Tuple[Dict[str, object], Dict[str, object]]:
    """Converted state dict (checked against the model of ``config``) and the conversion record stored as ``meta``."""
    try:
        out, layout = conv.convert_objprop_state_dict(state_dict)
    except ValueError as e:
        raise ConversionError(f'{type(e).__name__}: {e}') from e
    if not osp.isfile(config):
        raise ConversionError(f'config {config}: no such file')
    try:
        shapes = masktrack_shapes(config, layout['depth'], layout['num_classes'])
    except Exception as e:  # a broken config surfaces as any error type; report it in one line
        raise ConversionError(f'cannot build the model of {config}: {type(e).__name__}: {" ".join(str(e).split())}'
                              ) from e
    try:
        conv.check_converted(out, shapes, layout['num_classes'])
    except conv.CheckpointMismatchError as e:
        raise ConversionError(f'the checkpoint does not fit MaskTrack R-CNN R{layout["depth"]}: {e}') from e
    meta = dict(converter=f'tools/model_converters/{PROG}', source_keys=len(state_dict), converted_keys=len(out),
                **layout)
    return out, meta


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        check_conversion_paths(args.src, args.dst, args.overwrite)
        source, v1_meta = read_checkpoint(args.src)
        state_dict, meta = convert(source, args.config)
        meta.update(source=osp.basename(args.src), source_sha256=file_sha256(args.src),
                    source_mmdet_version=str(v1_meta.get('mmdet_version', '')))
        save_torch_atomic(dict(state_dict=state_dict, meta=meta), args.dst)
    except (CliError, UnreadableCheckpointError, OSError) as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2
    heads = [name for name in ('prop_head', 'neck_attn') if meta[name]] or ['no prop_head']
    print(f'converted {args.src} (R{meta["depth"]}, {meta["num_classes"]} classes, {" + ".join(heads)}): '
          f'{meta["source_keys"]} keys -> {meta["converted_keys"]} (added {len(meta["added_keys"])} '
          f'num_batches_tracked) -> {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
