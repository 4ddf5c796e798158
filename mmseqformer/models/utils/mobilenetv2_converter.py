"""torchvision MobileNetV2 ImageNet weights -> mmdet ``MobileNetV2`` keys."""
import re
from collections import OrderedDict
from typing import Dict

import torch

# Inverted-residual blocks per mmdet stage (torchvision's features.1 .. features.17, in order).
_BLOCKS_PER_STAGE = (1, 2, 3, 4, 3, 3, 1)
_FEATURE_TO_BLOCK = {}
_idx = 1
for _stage, _num in enumerate(_BLOCKS_PER_STAGE, start=1):
    for _b in range(_num):
        _FEATURE_TO_BLOCK[_idx] = f'layer{_stage}.{_b}'
        _idx += 1


def _block_part(feature: int, rest: str) -> str:
    # features.1 has no expansion conv, so its parts sit one index lower.
    parts = (['depthwise_conv', 'linear_conv'] if feature == 1 else
             ['expand_conv', 'depthwise_conv', 'linear_conv'])
    m = re.match(r'conv\.(\d)\.(\d)\.(.+)$', rest)  # ConvBNReLU: .0 conv, .1 bn
    if m:
        return f'{parts[int(m[1])]}.{"conv" if m[2] == "0" else "bn"}.{m[3]}'
    m = re.match(r'conv\.(\d)\.(.+)$', rest)  # the last pointwise conv and its bn
    last = len(parts) - 1
    return f'linear_conv.{"conv" if int(m[1]) == last else "bn"}.{m[2]}'


def convert_torchvision_mobilenetv2(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Rename a torchvision ``mobilenet_v2`` state dict for ``mmdet.models.backbones.MobileNetV2``.

    The classifier is dropped. Raises KeyError for keys outside torchvision's layout.
    """
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('classifier.'):
            continue
        m = re.match(r'features\.(\d+)\.(.+)$', key)
        if m is None:
            raise KeyError(f'not a torchvision MobileNetV2 key: {key}')
        feature, rest = int(m[1]), m[2]
        if feature in (0, 18):
            conv = 'conv1' if feature == 0 else 'conv2'
            sub, name = rest.split('.', 1)
            out[f'{conv}.{"conv" if sub == "0" else "bn"}.{name}'] = value
        else:
            out[f'{_FEATURE_TO_BLOCK[feature]}.{_block_part(feature, rest)}'] = value
    return out
