"""Convert an official SeqFormer checkpoint (github.com/wjf5203/SeqFormer) to an mmseqformer checkpoint.

    python tools/model_converters/seqformer_to_mmseqformer.py SRC DST [--class-rows ytvis40|all] [--overwrite]

SRC is ``{'model': state_dict, ...}`` as saved by the official training script, or a bare state dict.
DST is ``{'state_dict': ..., 'meta': {...}}``, loadable with ``load_from``/``load_checkpoint`` and
``strict=True`` into the matching config. ``--class-rows ytvis40`` (default) keeps the 40 YouTube-VIS
2019 rows of the official 42-way class heads (num_classes=40 configs); ``all`` keeps every row
(set ``model.track_head.num_classes=42``). ResNet/ResNeXt backbones only: Swin keys are not converted yet.
Bad input prints one error line and exits with 2; an existing DST is kept unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from mmseqformer.models.utils import seqformer_converter as conv
from mmseqformer.utils.atomic_write import save_torch_atomic
from mmseqformer.utils.cli import CliError, ToolArgumentParser, check_conversion_paths
from mmseqformer.utils.file_digest import file_sha256
from mmseqformer.utils.official_checkpoint import UnreadableCheckpointError, load_official_state_dict

PROG = 'seqformer_to_mmseqformer.py'


class ConversionError(CliError):
    """Bad input; reported as one line with exit code 2."""



def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output mmseqformer checkpoint (.pth)')
    parser.add_argument('--class-rows', choices=('ytvis40', 'all'), default='ytvis40',
                        help='class-head rows to keep (default: ytvis40)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing DST')
    return parser.parse_args(argv)


def convert(state_dict: Dict[str, object], class_rows: str) -> Tuple[Dict[str, object], Dict[str, object]]:
    """Converted state dict and the conversion record stored as ``meta``."""
    if any(k.startswith('detr.backbone.') and ('patch_embed.' in k or 'relative_position' in k) for k in state_dict):
        # the generic backbone rule would pass these through under names mmdet's SwinTransformer lacks
        raise ConversionError('Swin backbone keys found: Swin-L checkpoints are not supported yet '
                              '(their backbone needs swinv1_to_mmdet-style renames)')
    try:
        out = conv.convert_official_state_dict(state_dict, class_rows=class_rows)
    except conv.UnknownKeyError as e:
        raise ConversionError(f'UnknownKeyError: {e.args[0] if e.args else e}') from e
    except ValueError as e:
        raise ConversionError(str(e)) from e
    dropped = [k for k in state_dict if conv.convert_official_key(k) is None]
    cls = out.get('track_head.cls_branches.0.weight')
    meta = dict(
        converter=f'tools/model_converters/{PROG}',
        source_keys=len(state_dict),
        kept_keys=len(state_dict) - len(dropped),
        dropped_keys=len(dropped),
        added_keys=len(out) - (len(state_dict) - len(dropped)),
        class_rows=class_rows,
        num_classes=None if cls is None else int(cls.shape[0]),
    )
    return out, meta


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        check_conversion_paths(args.src, args.dst, args.overwrite)
        state_dict, meta = convert(load_official_state_dict(args.src), args.class_rows)
        meta.update(source=osp.basename(args.src), source_sha256=file_sha256(args.src))
        save_torch_atomic(dict(state_dict=state_dict, meta=meta), args.dst)
    except (CliError, UnreadableCheckpointError, OSError) as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2
    print(f'converted {args.src}: kept {meta["kept_keys"]} keys, dropped {meta["dropped_keys"]}, '
          f'added {meta["added_keys"]} num_batches_tracked, {meta["num_classes"]} classes -> {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
