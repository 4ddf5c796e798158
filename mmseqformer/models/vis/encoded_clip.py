"""Encoder outputs of a whole video, filled chunk by chunk (bounded memory, same result)."""
from typing import Optional

import torch
from torch import nn


class EncodedClip:
    """Encoder outputs of consecutive unpadded frames of one video, added chunk by chunk.

    Backbone, neck, encoder and mask branch treat frames independently, so encoding a video a chunk at a time
    gives the whole-video result while only one chunk's backbone features exist at a time. Outputs go into
    buffers preallocated for ``capacity`` frames (growing by doubling if more come): concatenating chunk
    outputs would briefly hold them twice.

    Args:
        model: a :class:`SeqFormer` (its ``encode``).
        capacity: expected number of frames.
    """

    def __init__(self, model: nn.Module, capacity: int) -> None:
        self.model = model
        self.capacity = max(1, capacity)
        self.num = 0
        self.enc: Optional[dict] = None

    @torch.no_grad()
    def add(self, frames: torch.Tensor) -> None:
        """Encode and store the next frames.

        Args:
            frames: (t, 3, h, w) normalized, one size for the whole clip, no padding.
        """
        out = self.model.encode(frames)
        t = frames.shape[0]
        if self.enc is None:
            self.enc = dict(spatial_shapes=out['spatial_shapes'], level_start_index=out['level_start_index'],
                            feat_mask=None, memory=out['memory'].new_empty((self.capacity, *out['memory'].shape[1:])),
                            mask_feats=out['mask_feats'].new_empty((self.capacity, *out['mask_feats'].shape[1:])))
        while self.num + t > self.capacity:  # the container's frame count was too low
            self.capacity *= 2
            for key in ('memory', 'mask_feats'):
                grown = self.enc[key].new_empty((self.capacity, *self.enc[key].shape[1:]))
                grown[:self.num] = self.enc[key][:self.num]
                self.enc[key] = grown
        self.enc['memory'][self.num:self.num + t] = out['memory']
        self.enc['mask_feats'][self.num:self.num + t] = out['mask_feats']
        self.num += t

    def finish(self) -> dict:
        """The ``SeqFormer.encode``-style dict of the frames added so far (views, no copy).

        Returns:
            dict: ``memory`` (T, S, C), ``mask_feats`` (T, c, H8, W8), ``spatial_shapes``, ``level_start_index``,
            ``valid_ratios`` (T, L, 2) all ones, ``feat_mask`` None.
        """
        enc = dict(self.enc, memory=self.enc['memory'][:self.num], mask_feats=self.enc['mask_feats'][:self.num])
        enc['valid_ratios'] = enc['memory'].new_ones((self.num, len(enc['spatial_shapes']), 2))
        return enc
