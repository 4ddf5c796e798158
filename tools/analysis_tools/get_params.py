"""Count the parameters of a config's model (built on CPU, weights not initialised or loaded).

    python tools/analysis_tools/get_params.py CONFIG [--cfg-options k=v ...] [--json]

Prints total and trainable parameters and the count "the official way": the official SeqFormer and VisTR use
FrozenBatchNorm2d, whose weight/bias are buffers, so their parameter count excludes the backbone's
BatchNorm affine weights (mmdet keeps them as frozen parameters). A per-top-level-module breakdown follows.
VisTR (configs/_base_/models/vistr_r50.py, 36 x 10 queries, 42 logits) counts 57,116,129 (R50) and 76,056,033
(``--cfg-options model.backbone.depth=101``) this way, the official models' numbers.
Bad input prints one error line and exits with 2.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional

from mmseqformer.utils.cli import KeyValueAction, ToolArgumentParser

PROG = 'get_params.py'



def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--cfg-options', nargs='+', action=KeyValueAction, default=[], metavar='KEY=VALUE',
                        help='override config entries, e.g. model.backbone.depth=101')
    parser.add_argument('--json', action='store_true', help='print one JSON object instead of a table')
    return parser.parse_args(argv)


def _numel(params) -> int:
    return sum(p.numel() for p in params)


def count_parameters(model) -> Dict[str, object]:
    """Total, trainable and official-way counts, overall and per top-level module.

    Args:
        model: a built mmseqformer model (``nn.Module`` with a ``backbone`` child, or without one).

    Returns:
        dict with ``total``, ``trainable``, ``official``, ``backbone_bn_affine`` (ints) and ``modules``:
        a list of dicts (``name``, ``total``, ``trainable``, ``official``) in registration order;
        parameters owned by the model itself (not by a child module) appear under their own names.
    """
    from torch.nn.modules.batchnorm import _BatchNorm

    backbone = getattr(model, 'backbone', None)
    bn_ids = set()
    if backbone is not None:
        for m in backbone.modules():
            if isinstance(m, _BatchNorm):
                bn_ids.update(id(p) for p in (m.weight, m.bias) if p is not None)

    def stats(name: str, params) -> Dict[str, object]:
        params = list(params)
        return dict(name=name, total=_numel(params), trainable=_numel(p for p in params if p.requires_grad),
                    official=_numel(p for p in params if id(p) not in bn_ids))

    rows = [stats(name, child.parameters()) for name, child in model.named_children()]
    rows += [stats(name, [p]) for name, p in model.named_parameters(recurse=False)]
    overall = stats('all', model.parameters())
    return dict(total=overall['total'], trainable=overall['trainable'], official=overall['official'],
                backbone_bn_affine=overall['total'] - overall['official'], modules=rows)


def build_model(config: str, cfg_options: List[str]):
    """Build ``cfg.model`` the way the runner does (default scope, ``custom_imports``), on CPU."""
    from mmengine.config import Config, DictAction
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(config)
    if cfg_options:
        parsed = argparse.Namespace()
        DictAction(option_strings=['--cfg-options'], dest='opts')(None, parsed, cfg_options)
        cfg.merge_from_dict(parsed.opts)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    import mmseqformer  # noqa: F401  (registers the project modules even without custom_imports)
    from mmdet.registry import MODELS
    return MODELS.build(cfg.model)


def format_table(counts: Dict[str, object]) -> str:
    lines = [f'{"module":<24}{"total":>14}{"trainable":>14}{"official":>14}']
    for row in counts['modules']:
        lines.append(f'{row["name"]:<24}{row["total"]:>14,}{row["trainable"]:>14,}{row["official"]:>14,}')
    lines += [
        f'total parameters:     {counts["total"]:,}',
        f'trainable parameters: {counts["trainable"]:,}',
        f'official-way count:   {counts["official"]:,} (total minus {counts["backbone_bn_affine"]:,} backbone '
        'BatchNorm affine weights, buffers in the official FrozenBatchNorm2d)',
    ]
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'{PROG}: error: config {args.config}: no such file', file=sys.stderr)
        return 2
    try:
        model = build_model(args.config, args.cfg_options)
    except Exception as e:  # a broken config surfaces as any error type; report it in one line
        msg = ' '.join(str(e).split())
        print(f'{PROG}: error: cannot build the model of {args.config}: {type(e).__name__}: {msg}', file=sys.stderr)
        return 2
    counts = count_parameters(model)
    if args.json:
        print(json.dumps(dict(counts, config=args.config)))
    else:
        print(f'config: {args.config}')
        print(format_table(counts))
    return 0


if __name__ == '__main__':
    sys.exit(main())
