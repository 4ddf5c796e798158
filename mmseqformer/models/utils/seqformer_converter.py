"""Official SeqFormer checkpoint keys -> mmseqformer keys."""
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import torch

# Keys the official model stores but that carry nothing: the decoder's alias of the box heads and
# the encoder's never-used second output projection.
DROPPED_KEY_PATTERNS = (
    r'^detr\.transformer\.decoder\.bbox_embed\.',
    r'^detr\.transformer\.encoder\.layers\.\d+\.self_attn\.output_proj_box\.',
)

_LAYER_RENAMES = {
    # encoder layer
    'enc': [('norm1.', 'norms.0.'), ('norm2.', 'norms.1.'), ('linear1.', 'ffn.layers.0.0.'),
            ('linear2.', 'ffn.layers.1.')],
    # decoder layer (norms in data-flow order: self-attn, aggregation, FFN)
    'dec': [('self_attn_box.', 'self_attn_box.attn.'), ('self_attn.', 'self_attn.attn.'),
            ('norm2_box.', 'box_norms.0.'), ('norm1_box.', 'box_norms.1.'), ('norm3_box.', 'box_norms.2.'),
            ('norm2.', 'norms.0.'), ('norm1.', 'norms.1.'), ('norm3.', 'norms.2.'),
            ('linear1_box.', 'ffn_box.layers.0.0.'), ('linear2_box.', 'ffn_box.layers.1.'),
            ('linear1.', 'ffn.layers.0.0.'), ('linear2.', 'ffn.layers.1.')],
}
_MASK_BRANCH = {'lay1': 'conv_reduce', 'lay2': 'conv_out', 'lay3': 'conv_p32', 'lay4': 'conv_p16', 'dcn': 'conv_p8'}


class UnknownKeyError(KeyError):
    """An official checkpoint key that the converter has no rule for."""


def _rename_layer(rest: str, kind: str) -> str:
    for old, new in _LAYER_RENAMES[kind]:
        if rest.startswith(old):
            return new + rest[len(old):]
    return rest


def _rules() -> List[Tuple[str, Callable[[re.Match], str]]]:
    return [
        (r'^detr\.backbone\.0\.body\.(.+)$', lambda m: f'backbone.{m[1]}'),
        (r'^detr\.input_proj\.([0-2])\.0\.(.+)$', lambda m: f'neck.convs.{m[1]}.conv.{m[2]}'),
        (r'^detr\.input_proj\.([0-2])\.1\.(.+)$', lambda m: f'neck.convs.{m[1]}.gn.{m[2]}'),
        (r'^detr\.input_proj\.3\.0\.(.+)$', lambda m: f'neck.extra_convs.0.conv.{m[1]}'),
        (r'^detr\.input_proj\.3\.1\.(.+)$', lambda m: f'neck.extra_convs.0.gn.{m[1]}'),
        (r'^detr\.transformer\.level_embed$', lambda m: 'level_embed'),
        (r'^detr\.transformer\.reference_points\.(.+)$', lambda m: f'reference_points_fc.{m[1]}'),
        (r'^detr\.query_embed\.weight$', lambda m: 'query_embedding.weight'),
        (r'^detr\.transformer\.encoder\.layers\.(\d+)\.(.+)$',
         lambda m: f'encoder.layers.{m[1]}.{_rename_layer(m[2], "enc")}'),
        (r'^detr\.transformer\.decoder\.layers\.(\d+)\.(.+)$',
         lambda m: f'decoder.layers.{m[1]}.{_rename_layer(m[2], "dec")}'),
        (r'^detr\.class_embed\.(\d+)\.(weight|bias)$', lambda m: f'track_head.cls_branches.{m[1]}.{m[2]}'),
        (r'^detr\.bbox_embed\.(\d+)\.layers\.(\d)\.(weight|bias)$',
         lambda m: f'track_head.reg_branches.{m[1]}.{2 * int(m[2])}.{m[3]}'),
        (r'^controller\.layers\.(\d)\.(weight|bias)$',
         lambda m: f'track_head.mask_head.controller.layers.{m[1]}.{m[2]}'),
        (r'^mask_head\.(lay[1-4]|dcn)\.(weight|bias)$',
         lambda m: f'track_head.mask_head.{_MASK_BRANCH[m[1]]}.{m[2]}'),
    ]


_COMPILED_RULES = [(re.compile(p), f) for p, f in _rules()]
_COMPILED_DROPPED = [re.compile(p) for p in DROPPED_KEY_PATTERNS]


def convert_official_key(key: str) -> Optional[str]:
    """mmseqformer name of an official key; None for keys that are dropped on purpose.

    Raises:
        UnknownKeyError: for a key no rule covers.
    """
    if any(p.search(key) for p in _COMPILED_DROPPED) or key.endswith('num_batches_tracked'):
        return None
    for pattern, fn in _COMPILED_RULES:
        m = pattern.match(key)
        if m:
            return fn(m)
    raise UnknownKeyError(key)


def convert_official_state_dict(state_dict: Dict[str, torch.Tensor], class_rows: str = 'ytvis40'
                                ) -> 'OrderedDict[str, torch.Tensor]':
    """Map an official SeqFormer state dict onto :class:`SeqFormer` parameter names.

    Args:
        state_dict: the official ``model`` state dict (``detr.*``, ``controller.*``, ``mask_head.*``).
        class_rows: ``'ytvis40'`` keeps logit rows 1..40 of the official 42-way class heads (official
            row c is YouTube-VIS category id c, so row c becomes 0-based class c-1); ``'all'`` keeps
            every row (the official raw-id label space).

    Returns:
        OrderedDict loadable with ``strict=True``: frozen-BN statistics get the
        ``num_batches_tracked`` buffers mmdet's BatchNorm has.

    Raises:
        UnknownKeyError: for keys no rule covers (e.g. a different backbone layout).
    """
    if class_rows not in ('ytvis40', 'all'):
        raise ValueError(f"class_rows must be 'ytvis40' or 'all', got {class_rows!r}")
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        try:
            new_key = convert_official_key(key)
        except UnknownKeyError:
            unknown.append(key)
            continue
        if new_key is None:
            continue
        if new_key.startswith('track_head.cls_branches.') and class_rows == 'ytvis40':
            if value.shape[0] != 42:
                raise ValueError(f'{key}: expected 42 official class rows, got {value.shape[0]}; '
                                 "use class_rows='all' for other label spaces")
            value = value[1:41]
        out[new_key] = value
        if new_key.startswith('backbone.') and new_key.endswith('.running_var'):
            out[new_key[:-len('running_var')] + 'num_batches_tracked'] = torch.tensor(0, dtype=torch.long)
    if unknown:
        shown = ', '.join(unknown[:5]) + (f' (+{len(unknown) - 5} more)' if len(unknown) > 5 else '')
        raise UnknownKeyError(f'{len(unknown)} checkpoint keys have no conversion rule: {shown}')
    return out
