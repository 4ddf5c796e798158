"""Convert an official VisTR checkpoint (github.com/Epiphqny/VisTR) or its DETR-384 init to an mmseqformer checkpoint.

    python tools/model_converters/vistr_to_mmseqformer.py SRC DST [--source auto|vistr|detr]
        [--num-frames 36] [--queries-per-frame 10] [--config CONFIG] [--overwrite]

SRC is ``{'model': state_dict, ...}`` as the official scripts save it, or a bare state dict:
``vistr_r50.pth`` / ``vistr_r101.pth`` (source ``vistr``: every key maps to one of ours, loaded strictly), or the
author's DETR-384 COCO segmentation weights that VisTR training starts from (source ``detr``, keys ``detr.*`` or
renamed ``vistr.*``: the COCO class/query embeddings and DETR's lay5/out_lay are dropped; the class head, the
queries, conv_offset, the DCN and the 3D instance head stay missing, as in the official init).
The result is checked by loading it into the VisTR model of CONFIG (default: configs/_base_/models/vistr_r50.py,
with the backbone depth, class count and query layout of the checkpoint). DST is ``{'state_dict': ..., 'meta':
{...}}``. Bad input (another model's checkpoint, a query count that is not queries-per-frame x num-frames, ...)
prints one error line and exits with 2, writing nothing; an existing DST is kept unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Tuple

from mmseqformer.models.utils import vistr_converter as conv
from mmseqformer.utils.atomic_write import save_torch_atomic
from mmseqformer.utils.cli import CliError, ToolArgumentParser, check_conversion_paths
from mmseqformer.utils.file_digest import file_sha256
from mmseqformer.utils.official_checkpoint import UnreadableCheckpointError, load_official_state_dict

PROG = 'vistr_to_mmseqformer.py'
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', '_base_', 'models', 'vistr_r50.py')
RESNET_DEPTHS = {6: 50, 23: 101, 36: 152}  # blocks of layer3


class ConversionError(CliError):
    """Bad input; reported as one line with exit code 2."""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official VisTR or DETR-384 checkpoint (.pth)')
    parser.add_argument('dst', help='output mmseqformer checkpoint (.pth)')
    parser.add_argument('--source', choices=('auto', 'vistr', 'detr'), default='auto',
                        help='checkpoint kind (default: detected from its keys)')
    parser.add_argument('--num-frames', type=int, default=36, help='clip length of the model (default: 36)')
    parser.add_argument('--queries-per-frame', type=int, default=10, help='instance slots (default: 10)')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='config whose model checks the result')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing DST')
    args = parser.parse_args(argv)
    if args.num_frames < 1 or args.queries_per_frame < 1:
        parser.error('--num-frames and --queries-per-frame must be >= 1')
    return args


def backbone_depth(converted: Dict[str, object]) -> int:
    """ResNet depth from the number of layer3 blocks."""
    blocks = {int(m[1]) for k in converted for m in [re.match(r'backbone\.layer3\.(\d+)\.', k)] if m}
    depth = RESNET_DEPTHS.get(len(blocks))
    if depth is None:
        raise ConversionError(f'the backbone has {len(blocks)} layer3 blocks: not a ResNet-50/101/152')
    return depth


def check_queries(converted: Dict[str, object], num_frames: int, queries_per_frame: int) -> None:
    query = converted.get('query_embedding.weight')
    if query is not None and query.shape[0] != num_frames * queries_per_frame:
        raise ConversionError(f'the checkpoint has {query.shape[0]} queries, not queries-per-frame x num-frames = '
                              f'{queries_per_frame} x {num_frames} = {num_frames * queries_per_frame} '
                              '(pass the --num-frames/--queries-per-frame it was trained with)')


def build_check_model(config: str, depth: int, num_frames: int, queries_per_frame: int,
                      num_classes: Optional[int]):
    """The VisTR of ``config`` with the checkpoint's layout, on CPU, not initialised."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmseqformer  # noqa: F401  (registers VisTR even without custom_imports)

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = dict(backbone=dict(depth=depth), num_frames=num_frames, queries_per_frame=queries_per_frame)
    if num_classes is not None:
        model_cfg['track_head'] = dict(num_classes=num_classes)
    cfg.merge_from_dict(dict(model=model_cfg))
    return MODELS.build(cfg.model)


def convert(state_dict: Dict[str, object], source: str = 'auto', num_frames: int = 36, queries_per_frame: int = 10,
            config: str = DEFAULT_CONFIG) -> Tuple[Dict[str, object], Dict[str, object]]:
    """Converted state dict (checked against the model) and the conversion record stored as ``meta``."""
    try:
        out, source, dropped = conv.convert_official_state_dict(state_dict, source)
    except conv.UnknownKeyError as e:
        raise ConversionError(f'UnknownKeyError: {e.args[0] if e.args else e}') from e
    check_queries(out, num_frames, queries_per_frame)
    depth = backbone_depth(out)
    cls = out.get('track_head.fc_cls.weight')
    num_classes = None if cls is None else int(cls.shape[0]) - 2
    if not osp.isfile(config):
        raise ConversionError(f'config {config}: no such file')
    try:
        model = build_check_model(config, depth, num_frames, queries_per_frame, num_classes)
    except Exception as e:  # a broken config surfaces as any error type; report it in one line
        raise ConversionError(f'cannot build the model of {config}: {type(e).__name__}: {" ".join(str(e).split())}'
                              ) from e
    try:
        missing = conv.load_converted(model, out, source)
    except conv.CheckpointMismatchError as e:
        raise ConversionError(f'the checkpoint does not fit VisTR-R{depth}: {e}') from e
    meta = dict(converter=f'tools/model_converters/{PROG}', source_kind=source, source_keys=len(state_dict),
                kept_keys=len(state_dict) - len(dropped), dropped_keys=dropped,
                added_keys=len(out) - (len(state_dict) - len(dropped)), missing_keys=missing, depth=depth,
                num_frames=num_frames, queries_per_frame=queries_per_frame,
                num_classes=model.num_classes if num_classes is None else num_classes)
    return out, meta


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        check_conversion_paths(args.src, args.dst, args.overwrite)
        state_dict, meta = convert(load_official_state_dict(args.src), args.source, args.num_frames,
                                   args.queries_per_frame, args.config)
        meta.update(source=osp.basename(args.src), source_sha256=file_sha256(args.src))
        save_torch_atomic(dict(state_dict=state_dict, meta=meta), args.dst)
    except (CliError, UnreadableCheckpointError, OSError) as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2
    missing = f', {len(meta["missing_keys"])} model keys left to their init' if meta['missing_keys'] else ''
    print(f'converted {args.src} ({meta["source_kind"]}, R{meta["depth"]}): kept {meta["kept_keys"]} keys, '
          f'dropped {len(meta["dropped_keys"])}, added {meta["added_keys"]} num_batches_tracked{missing}, '
          f'{meta["num_classes"]} classes, {args.num_frames} x {args.queries_per_frame} queries -> {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
