"""Mask logits at a fraction of the network input brought to the output frame size."""
import torch.nn.functional as F
from torch import Tensor


def resize_mask_logits(masks: Tensor, meta: dict, rescale: bool) -> Tensor:
    """Mask logits (k, T, h, w) at a fraction of the padded input -> (k, T, H, W) at the output size.

    Without padding the logits go straight to the output size (as both official inferences do); with padding
    (``batch_input_shape`` larger than ``img_shape``) they are brought to the padded size first so the padding can
    be cropped.

    Args:
        meta: ``img_shape``, ``ori_shape`` and optionally ``batch_input_shape``. rescale: output at ``ori_shape``
            (else ``img_shape``).
    """
    img_hw = tuple(meta['img_shape'][:2])
    out_hw = tuple(meta['ori_shape'][:2]) if rescale else img_hw
    if masks.shape[0] == 0:
        return masks.new_zeros((0, masks.shape[1], *out_hw))
    pad_hw = tuple(meta.get('batch_input_shape', img_hw))
    if pad_hw != img_hw:
        masks = F.interpolate(masks, size=pad_hw, mode='bilinear', align_corners=False)
        masks = masks[..., :img_hw[0], :img_hw[1]]
    if masks.shape[-2:] != out_hw:
        masks = F.interpolate(masks, size=out_hw, mode='bilinear', align_corners=False)
    return masks


def threshold_mask_logits(logits: Tensor, mask_thr: float) -> Tensor:
    """Bool masks where ``sigmoid(logits) > mask_thr`` (at 0.5 as ``logits > 0``, bit-stable)."""
    return logits > 0 if mask_thr == 0.5 else logits.sigmoid() > mask_thr
