"""Official VisTR checkpoint keys (and the author's DETR-384 COCO init) -> mmseqformer ``VisTR`` keys.

Two sources:

* ``'vistr'``: an official VisTR model (``vistr_r50.pth``, ``vistr_r101.pth``; keys ``vistr.*``,
  ``bbox_attention.*``, ``mask_head.*``, ``insmask_head.*``). Every key maps to exactly one of ours and the
  result loads strictly.
* ``'detr'``: the author's DETR segmentation model with hidden size 384 trained on COCO, the official
  initialisation (keys ``detr.*``, or ``vistr.*`` after the official ``detr_weights_to_vistr.py`` rename, plus
  DETR's ``bbox_attention`` and ``mask_head``). As the official ``main.py`` does, the COCO class and query
  embeddings are dropped; DETR's last mask conv (``lay5``) and output conv (``out_lay``) have no VisTR
  counterpart (VisTR has the DCN and the 3D instance head there). The keys of ours it leaves missing are
  :data:`DETR_INIT_MISSING`.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch
from torch import nn

# our keys a DETR-384 init does not provide (trained from their own init)
DETR_INIT_MISSING = (
    r'^query_embedding\.weight$',
    r'^track_head\.fc_cls\.(weight|bias)$',
    r'^mask_head\.conv_offset\.(weight|bias)$',
    r'^mask_head\.dcn\.weight$',
    r'^mask_head\.insmask_head\.',
)
# DETR-384 keys the init leaves out on purpose
DETR_INIT_DROPPED = (
    r'^(detr|vistr)\.class_embed\.',  # COCO classes (official main.py deletes them)
    r'^(detr|vistr)\.query_embed\.',  # 100 image queries (likewise)
    r'^mask_head\.(lay5|out_lay)\.',  # DETR's last mask conv and output layer
)

_ENC_RENAMES = [('self_attn.', 'self_attn.attn.'), ('linear1.', 'ffn.layers.0.0.'), ('linear2.', 'ffn.layers.1.'),
                ('norm1.', 'norms.0.'), ('norm2.', 'norms.1.')]
_DEC_RENAMES = [('self_attn.', 'self_attn.attn.'), ('multihead_attn.', 'cross_attn.attn.'),
                ('linear1.', 'ffn.layers.0.0.'), ('linear2.', 'ffn.layers.1.'), ('norm1.', 'norms.0.'),
                ('norm2.', 'norms.1.'), ('norm3.', 'norms.2.')]


class UnknownKeyError(KeyError):
    """A checkpoint key that the converter has no rule for."""


class CheckpointMismatchError(ValueError):
    """A converted checkpoint that does not fit the model (missing/unexpected keys, shapes, query count)."""


def _rename(rest: str, renames: List[Tuple[str, str]]) -> str:
    for old, new in renames:
        if rest.startswith(old):
            return new + rest[len(old):]
    raise UnknownKeyError(rest)


_RULES = [
    (r'^(?:vistr|detr)\.backbone\.0\.body\.(.+)$', lambda m: f'backbone.{m[1]}'),
    (r'^(?:vistr|detr)\.input_proj\.(weight|bias)$', lambda m: f'input_proj.{m[1]}'),
    (r'^(?:vistr|detr)\.query_embed\.weight$', lambda m: 'query_embedding.weight'),
    (r'^(?:vistr|detr)\.class_embed\.(weight|bias)$', lambda m: f'track_head.fc_cls.{m[1]}'),
    (r'^(?:vistr|detr)\.bbox_embed\.layers\.([0-2])\.(weight|bias)$',
     lambda m: f'track_head.fc_reg.layers.{m[1]}.{m[2]}'),
    (r'^(?:vistr|detr)\.transformer\.encoder\.layers\.(\d+)\.(.+)$',
     lambda m: f'encoder.layers.{m[1]}.{_rename(m[2], _ENC_RENAMES)}'),
    (r'^(?:vistr|detr)\.transformer\.decoder\.layers\.(\d+)\.(.+)$',
     lambda m: f'decoder.layers.{m[1]}.{_rename(m[2], _DEC_RENAMES)}'),
    (r'^(?:vistr|detr)\.transformer\.decoder\.norm\.(weight|bias)$', lambda m: f'decoder.post_norm.{m[1]}'),
    (r'^bbox_attention\.([qk]_linear\.(?:weight|bias))$', lambda m: f'mask_head.bbox_attention.{m[1]}'),
    (r'^mask_head\.((?:lay[1-4]|gn[1-5]|adapter[1-3]|conv_offset)\.(?:weight|bias)|dcn\.weight)$',
     lambda m: f'mask_head.{m[1]}'),
    (r'^insmask_head\.(\d+\.(?:weight|bias))$', lambda m: f'mask_head.insmask_head.{m[1]}'),
]
_COMPILED_RULES = [(re.compile(p), f) for p, f in _RULES]


def convert_official_key(key: str) -> str:
    """Our name of an official VisTR (or DETR) key.

    Raises:
        UnknownKeyError: for a key no rule covers.
    """
    for pattern, fn in _COMPILED_RULES:
        m = pattern.match(key)
        if m:
            try:
                return fn(m)
            except UnknownKeyError:
                raise UnknownKeyError(key) from None
    raise UnknownKeyError(key)


def detect_source(state_dict: Dict[str, torch.Tensor]) -> str:
    """``'vistr'`` (an official VisTR model) or ``'detr'`` (a DETR segmentation init).

    Raises:
        UnknownKeyError: for a state dict that is neither (e.g. no ``vistr.``/``detr.`` keys at all).
    """
    if any(k.startswith('insmask_head.') for k in state_dict):
        return 'vistr'
    if any(k.startswith('detr.') or k.startswith('mask_head.out_lay.') for k in state_dict):
        return 'detr'
    shown = ', '.join(list(state_dict)[:3])
    raise UnknownKeyError(f'neither an official VisTR (insmask_head.*) nor a DETR (detr.*) checkpoint; '
                          f'first keys: {shown}')


def convert_official_state_dict(state_dict: Dict[str, torch.Tensor], source: str = 'auto'
                                ) -> Tuple['OrderedDict[str, torch.Tensor]', str, List[str]]:
    """Map an official VisTR or DETR-384 state dict onto :class:`VisTR` parameter names.

    Args:
        state_dict: the official ``model`` state dict.
        source: ``'vistr'``, ``'detr'`` or ``'auto'`` (:func:`detect_source`).

    Returns:
        tuple: the converted OrderedDict (backbone BatchNorms get the ``num_batches_tracked`` buffers mmdet's
        BatchNorm has), the source kind, and the source keys dropped on purpose (``'detr'`` only).

    Raises:
        UnknownKeyError: for keys no rule covers (listed, at most 5 shown).
    """
    if source == 'auto':
        source = detect_source(state_dict)
    if source not in ('vistr', 'detr'):
        raise ValueError(f"source must be 'vistr', 'detr' or 'auto', got {source!r}")
    dropped_patterns = [re.compile(p) for p in DETR_INIT_DROPPED] if source == 'detr' else []
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    unknown, dropped = [], []
    for key, value in state_dict.items():
        if key.endswith('num_batches_tracked') or any(p.search(key) for p in dropped_patterns):
            dropped.append(key)
            continue
        try:
            new_key = convert_official_key(key)
        except UnknownKeyError:
            unknown.append(key)
            continue
        out[new_key] = value
        if new_key.startswith('backbone.') and new_key.endswith('.running_var'):
            out[new_key[:-len('running_var')] + 'num_batches_tracked'] = torch.tensor(0, dtype=torch.long)
    if unknown:
        shown = ', '.join(unknown[:5]) + (f' (+{len(unknown) - 5} more)' if len(unknown) > 5 else '')
        raise UnknownKeyError(f'{len(unknown)} checkpoint keys have no VisTR conversion rule '
                              f'(a checkpoint of another model?): {shown}')
    return out, source, dropped


def load_converted(model: nn.Module, converted: Dict[str, torch.Tensor], source: str) -> List[str]:
    """Load ``converted`` into ``model``: strictly for ``'vistr'``; for ``'detr'`` exactly the
    :data:`DETR_INIT_MISSING` keys may be missing.

    Returns:
        list: the model keys left missing (empty for ``'vistr'``).

    Raises:
        CheckpointMismatchError: unexpected or (other) missing keys, or a shape that differs (one line).
    """
    own = model.state_dict()
    shapes = [f'{k} {tuple(v.shape)} vs {tuple(own[k].shape)}' for k, v in converted.items()
              if k in own and v.shape != own[k].shape]
    if shapes:
        raise CheckpointMismatchError(f'{len(shapes)} tensors do not fit the model: {"; ".join(shapes[:3])}')
    unexpected = [k for k in converted if k not in own]
    missing = [k for k in own if k not in converted]
    allowed = [re.compile(p) for p in DETR_INIT_MISSING] if source == 'detr' else []
    wrong_missing = [k for k in missing if not any(p.search(k) for p in allowed)]
    if unexpected or wrong_missing:
        parts = [f'{len(v)} {what}: {", ".join(v[:4])}' for what, v in
                 (('unexpected keys', unexpected), ('missing keys', wrong_missing)) if v]
        raise CheckpointMismatchError('; '.join(parts))
    model.load_state_dict(converted, strict=not missing)
    return missing
