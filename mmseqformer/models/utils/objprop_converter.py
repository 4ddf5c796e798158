"""Official ObjProp checkpoints (mmdet v1.0rc0 MaskTrack R-CNN + propagation head) -> mmseqformer keys.

ObjProp (github.com/anirudh-chakravarthy/ObjProp) is MaskTrack R-CNN in mmdet v1.0rc0 with a propagation head
(``prop_head.*``); its attention-neck variant also has ``neck_attn.*``. A plain v1 MaskTrack R-CNN checkpoint (no
``prop_head``) converts too. The detector and track head become the keys of mmseqformer's ``OnlineMaskTrackRCNN``
(``detector.*``, ``track_head.embed_head.*``); ``prop_head.*`` and ``neck_attn.*`` keep their sub-names.

Values change where mmdet v1 and mmdet 3 lay out classes differently (the rules of mmdet's
``tools/model_converters/upgrade_model_version.py``): v1 puts the background at class 0, mmdet 3 puts it last in
``fc_cls`` and has no background row in ``fc_reg`` and ``conv_logits``. So ``bbox_head.fc_cls`` rows are rotated (row
0 becomes the last row), the first 4 rows of the class-specific ``bbox_head.fc_reg`` are dropped, and channel 0 of
``mask_head.conv_logits`` and ``prop_head.conv_logits`` is dropped. The class count is read from the checkpoint
(``fc_cls`` rows - 1; 40 for YouTube-VIS 2019). The sigmoid RPN (one channel per anchor) is unchanged.

Inference conventions of mmdet v1 that differ from the mmdet 3 defaults: the converted weights were trained with
them, so for outputs close to the official ones use mmdet's ``legacy_1.x`` settings: ``LegacyAnchorGenerator``
with ``center_offset=0.5`` (v1 anchor centres), ``LegacyDeltaXYWHBBoxCoder`` (v1 boxes have the ``+1`` width and
height) in the RPN and the box head, and ``RoIAlign`` with ``sampling_ratio=2, aligned=False`` in the RoI
extractors. With the mmdet 3 defaults the weights still work, with slightly shifted boxes and masks.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Sequence, Tuple

import torch

# v1 prefix -> ours; every v1 key starts with exactly one of them
KEY_PREFIXES = (
    ('backbone.', 'detector.backbone.'),
    ('neck.', 'detector.neck.'),
    ('rpn_head.', 'detector.rpn_head.'),
    ('bbox_head.', 'detector.roi_head.bbox_head.'),
    ('mask_head.', 'detector.roi_head.mask_head.'),
    ('track_head.', 'track_head.embed_head.'),
    ('prop_head.', 'prop_head.'),
    ('neck_attn.', 'neck_attn.'),
)
# our keys that are not OnlineMaskTrackRCNN's (ObjProp only)
OBJPROP_PREFIXES = ('prop_head.', 'neck_attn.')
RESNET_STAGES = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
_BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
_WB = ('weight', 'bias')
_CHANNELS = 256  # FPN / prop_head / neck_attn width of the official configs


class UnknownKeyError(ValueError):
    """Checkpoint keys that an mmdet-v1 MaskTrack R-CNN / ObjProp checkpoint does not have."""


class MissingKeyError(ValueError):
    """Keys that an mmdet-v1 MaskTrack R-CNN / ObjProp checkpoint must have but this one lacks."""


class CheckpointMismatchError(ValueError):
    """Class rows that disagree between heads, or converted tensors that do not fit the model."""


def _shown(keys: Sequence[str], n: int = 5) -> str:
    return ', '.join(keys[:n]) + (f' (+{len(keys) - n} more)' if len(keys) > n else '')


def _params(prefix: str, names: Sequence[str]) -> List[str]:
    return [f'{prefix}.{name}' for name in names]


def unwrap_checkpoint(obj: object) -> Dict[str, torch.Tensor]:
    """The state dict of a loaded checkpoint: ``{'state_dict': sd, 'meta': ...}`` (mmcv), ``{'model': sd}`` or a
    bare ``sd``, without a DataParallel ``module.`` prefix.

    Raises:
        ValueError: no state dict of string keys and tensors, or a key present with and without ``module.``.
    """
    if isinstance(obj, dict):
        for wrapper in ('state_dict', 'model'):
            if isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
                break
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise ValueError('the checkpoint holds no state dict (neither a bare one nor under "state_dict"/"model")')
    out: Dict[str, torch.Tensor] = OrderedDict()
    for key, value in obj.items():
        name = key[len('module.'):] if key.startswith('module.') else key
        if name in out:
            raise ValueError(f'{name} is in the checkpoint both with and without the "module." prefix')
        out[name] = value
    return out


def resnet_depth(state_dict: Mapping[str, torch.Tensor]) -> int:
    """ResNet depth from the number of ``backbone.layer3`` blocks; 50 when it tells none (reported as key errors)."""
    blocks = {int(m[1]) for k in state_dict for m in [re.match(r'backbone\.layer3\.(\d+)\.', k)] if m}
    by_blocks = {stages[2]: depth for depth, stages in RESNET_STAGES.items()}
    return by_blocks.get(len(blocks), 50)


def v1_backbone_keys(depth: int) -> List[str]:
    """The v1 (torchvision-named) ResNet keys of ``depth``, ``num_batches_tracked`` included."""
    keys = ['backbone.conv1.weight', *_params('backbone.bn1', _BN)]
    for stage, num_blocks in enumerate(RESNET_STAGES[depth], start=1):
        for block in range(num_blocks):
            prefix = f'backbone.layer{stage}.{block}'
            for i in (1, 2, 3):
                keys += [f'{prefix}.conv{i}.weight', *_params(f'{prefix}.bn{i}', _BN)]
            if block == 0:
                keys += [f'{prefix}.downsample.0.weight', *_params(f'{prefix}.downsample.1', _BN)]
    return keys


def v1_masktrack_head_keys() -> List[str]:
    """The v1 keys of MaskTrack R-CNN's FPN, RPN, box, mask and track heads (R50-FPN config: 4 FPN inputs, 2 shared
    fcs, 4 mask convs, 2 track fcs)."""
    keys: List[str] = []
    for kind in ('lateral', 'fpn'):
        for i in range(4):
            keys += _params(f'neck.{kind}_convs.{i}.conv', _WB)
    for name in ('rpn_conv', 'rpn_cls', 'rpn_reg'):
        keys += _params(f'rpn_head.{name}', _WB)
    for name in ('shared_fcs.0', 'shared_fcs.1', 'fc_cls', 'fc_reg'):
        keys += _params(f'bbox_head.{name}', _WB)
    for name in ('convs.0.conv', 'convs.1.conv', 'convs.2.conv', 'convs.3.conv', 'upsample', 'conv_logits'):
        keys += _params(f'mask_head.{name}', _WB)
    for i in (0, 1):
        keys += _params(f'track_head.fcs.{i}', _WB)
    return keys


def objprop_head_shapes(num_classes: int) -> 'OrderedDict[str, Tuple[int, ...]]':
    """Shapes of OUR ``prop_head.*`` (28 keys) and ``neck_attn.*`` (5 keys); their v1 shapes are the same but for
    ``prop_head.conv_logits`` (``num_classes + 1`` rows in v1, ``num_classes`` here)."""
    c = _CHANNELS
    shapes: OrderedDict[str, Tuple[int, ...]] = OrderedDict()
    # fusion of the P2..P5 concat: 1x1 conv, BN, (ReLU), 3x3 conv, BN, (ReLU), 1x1 conv
    for i, in_channels, k in ((0, 4 * c, 1), (1, 0, 0), (3, c, 3), (4, 0, 0), (6, c, 1)):
        if k:
            shapes.update({f'prop_head.convs.{i}.weight': (c, in_channels, k, k), f'prop_head.convs.{i}.bias': (c,)})
        else:  # BatchNorm2d
            shapes.update({key: () if key.endswith('num_batches_tracked') else (c,)
                           for key in _params(f'prop_head.convs.{i}', _BN)})
    for i in range(4):
        shapes.update({f'prop_head.mask_convs.{i}.conv.weight': (c, c, 3, 3),
                       f'prop_head.mask_convs.{i}.conv.bias': (c,)})
    shapes.update({'prop_head.upsample.weight': (c, c, 2, 2), 'prop_head.upsample.bias': (c,),  # ConvTranspose2d
                   'prop_head.conv_logits.weight': (num_classes, c, 1, 1),
                   'prop_head.conv_logits.bias': (num_classes,), 'neck_attn.gamma': (1,)})
    for i in (1, 2):
        shapes.update({f'neck_attn.conv{i}.weight': (c, c, 3, 3), f'neck_attn.conv{i}.bias': (c,)})
    return shapes


def expected_v1_keys(depth: int, with_prop_head: bool, with_neck_attn: bool) -> List[str]:
    """Every key of a v1 checkpoint of this layout (``num_batches_tracked`` included, though optional)."""
    keys = v1_backbone_keys(depth) + v1_masktrack_head_keys()
    heads = list(objprop_head_shapes(1))
    keys += [k for k in heads if (k.startswith('prop_head.') and with_prop_head)
             or (k.startswith('neck_attn.') and with_neck_attn)]
    return keys


def convert_v1_key(key: str) -> str:
    """Our name of a v1 key (prefix rename only; whether the key belongs to the layout is checked elsewhere).

    Raises:
        UnknownKeyError: a key under none of the v1 module prefixes.
    """
    for old, new in KEY_PREFIXES:
        if key.startswith(old):
            return new + key[len(old):]
    raise UnknownKeyError(key)


def check_v1_keys(state_dict: Mapping[str, torch.Tensor]) -> Tuple[int, bool, bool]:
    """Check that the keys are exactly those of a v1 MaskTrack R-CNN (+ prop_head, + neck_attn) checkpoint.

    Returns:
        tuple: ResNet depth, whether ``prop_head.*`` and whether ``neck_attn.*`` keys are present.

    Raises:
        UnknownKeyError: keys of no such checkpoint (at most 5 shown). MissingKeyError: required keys absent
        (``num_batches_tracked`` buffers may be absent).
    """
    depth = resnet_depth(state_dict)
    with_prop = any(k.startswith('prop_head.') for k in state_dict)
    with_attn = any(k.startswith('neck_attn.') for k in state_dict)
    expected = expected_v1_keys(depth, with_prop, with_attn)
    expected_set = set(expected)
    unknown = [k for k in state_dict if k not in expected_set]
    if unknown:
        raise UnknownKeyError(f'{len(unknown)} keys are not those of an mmdet-v1 MaskTrack R-CNN/ObjProp '
                              f'R{depth} checkpoint (another model?): {_shown(unknown)}')
    missing = [k for k in expected if k not in state_dict and not k.endswith('num_batches_tracked')]
    if missing:
        raise MissingKeyError(f'{len(missing)} keys of an mmdet-v1 MaskTrack R-CNN/ObjProp R{depth} checkpoint are '
                              f'missing: {_shown(missing)}')
    return depth, with_prop, with_attn


def num_classes_of(state_dict: Mapping[str, torch.Tensor]) -> int:
    """Foreground class count K of a v1 state dict: ``bbox_head.fc_cls`` has K + 1 rows (background = row 0).

    Raises:
        CheckpointMismatchError: fewer than 2 rows, or a class-dependent tensor of another row count (K + 1 for the
        fc_cls bias and every conv_logits, 4 (K + 1) for the class-specific fc_reg).
    """
    rows = state_dict['bbox_head.fc_cls.weight'].shape[0]
    expected = {'bbox_head.fc_cls.bias': rows, 'bbox_head.fc_reg.weight': 4 * rows, 'bbox_head.fc_reg.bias': 4 * rows}
    for head in ('mask_head', 'prop_head'):
        expected.update({f'{head}.conv_logits.{p}': rows for p in _WB})
    wrong = [f'{k} has {state_dict[k].shape[0]}' for k, n in expected.items()
             if k in state_dict and (state_dict[k].dim() == 0 or state_dict[k].shape[0] != n)]
    if rows < 2 or wrong:
        raise CheckpointMismatchError(f'bbox_head.fc_cls has {rows} rows (classes + background) but '
                                      f'{"; ".join(wrong) or "that is no class"} (rows = classes + 1, x4 for a '
                                      'class-specific fc_reg)')
    return rows - 1


def convert_v1_value(key: str, value: torch.Tensor) -> torch.Tensor:
    """The value of v1 ``key`` in the mmdet-3 class layout.

    ``bbox_head.fc_cls`` ([K+1, 1024] / [K+1]): background row 0 moved last. ``bbox_head.fc_reg`` ([4(K+1), 1024] /
    [4(K+1)]): the background's first 4 rows dropped -> [4K, ...]. ``{mask,prop}_head.conv_logits`` ([K+1, 256, 1, 1]
    / [K+1]): channel 0 dropped -> [K, ...]. Anything else: unchanged (the same tensor).
    """
    module = key.rsplit('.', 1)[0]
    if module == 'bbox_head.fc_cls':
        return torch.cat([value[1:], value[:1]])
    if module == 'bbox_head.fc_reg':
        return value[4:].clone()
    if module in ('mask_head.conv_logits', 'prop_head.conv_logits'):
        return value[1:].clone()
    return value


def convert_objprop_state_dict(state_dict: Mapping[str, torch.Tensor]
                               ) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, object]]:
    """Map a v1 ObjProp / MaskTrack R-CNN state dict (already unwrapped, :func:`unwrap_checkpoint`) onto our keys.

    Returns:
        tuple: the converted OrderedDict (``num_batches_tracked`` buffers the checkpoint lacks are added as 0) and
        the layout: ``depth``, ``num_classes``, ``prop_head``, ``neck_attn`` (bools) and ``added_keys`` (list).

    Raises:
        UnknownKeyError, MissingKeyError, CheckpointMismatchError (all ValueError): see :func:`check_v1_keys` and
        :func:`num_classes_of`.
    """
    depth, with_prop, with_attn = check_v1_keys(state_dict)
    num_classes = num_classes_of(state_dict)
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    added = []
    for key in expected_v1_keys(depth, with_prop, with_attn):
        new_key = convert_v1_key(key)
        if key in state_dict:
            out[new_key] = convert_v1_value(key, state_dict[key])
        else:  # an optional num_batches_tracked
            out[new_key] = torch.tensor(0, dtype=torch.long)
            added.append(new_key)
    layout = dict(depth=depth, num_classes=num_classes, prop_head=with_prop, neck_attn=with_attn, added_keys=added)
    return out, layout


def split_objprop(converted: Mapping[str, torch.Tensor]
                  ) -> Tuple['OrderedDict[str, torch.Tensor]', 'OrderedDict[str, torch.Tensor]']:
    """(OnlineMaskTrackRCNN part, ``prop_head.*``/``neck_attn.*`` part) of a converted state dict."""
    masktrack, objprop = OrderedDict(), OrderedDict()
    for key, value in converted.items():
        (objprop if key.startswith(OBJPROP_PREFIXES) else masktrack)[key] = value
    return masktrack, objprop


def check_converted(converted: Mapping[str, torch.Tensor], masktrack_shapes: Mapping[str, Sequence[int]],
                    num_classes: int) -> None:
    """Check a converted state dict against the key shapes of an OnlineMaskTrackRCNN (its ``prop_head.*`` /
    ``neck_attn.*`` entries, if any, are ignored) plus :func:`objprop_head_shapes` for the ObjProp groups present.

    Raises:
        CheckpointMismatchError: shapes that differ, unexpected or missing keys (one line, a few of each shown).
    """
    expected = {k: tuple(v) for k, v in masktrack_shapes.items() if not k.startswith(OBJPROP_PREFIXES)}
    groups = [p for p in OBJPROP_PREFIXES if any(k.startswith(p) for k in converted)]
    expected.update({k: v for k, v in objprop_head_shapes(num_classes).items() if k.startswith(tuple(groups))})
    shapes = [f'{k} {tuple(v.shape)} vs {expected[k]}' for k, v in converted.items()
              if k in expected and tuple(v.shape) != expected[k]]
    unexpected = [k for k in converted if k not in expected]
    missing = [k for k in expected if k not in converted]
    parts = [f'{len(v)} {what}: {_shown(v, 3)}' for what, v in
             (('tensors of another shape', shapes), ('unexpected keys', unexpected), ('missing keys', missing)) if v]
    if parts:
        raise CheckpointMismatchError('; '.join(parts))
