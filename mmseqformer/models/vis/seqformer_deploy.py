"""SeqFormer's network as three exportable graphs: frame encoding, clip decoding, masks of chosen queries.

What stays outside the graphs (shared with the PyTorch model through :class:`SeqFormerClip` and
:class:`OfflineClipVISModel`): chunking, windows and linking, top-k (query, class) pairs, resizing and thresholding.
Frames are unpadded (no padding masks): the valid ratios are ones, as at test time.
"""
from contextlib import contextmanager
from typing import Iterator, List, Tuple

import torch
from torch import Tensor, nn

from ..layers.level_shapes import level_starts
from .deploy_graph import DeployGraph

# the example masks graph runs on this many queries (> 1, so that the count stays symbolic)
EXAMPLE_QUERIES = 3


@contextmanager
def whole_clip_decoding(model: nn.Module) -> Iterator[None]:
    """Decoder layers without frame chunks (a graph cannot branch on its dynamic frame count)."""
    layers = list(model.decoder.layers)
    saved = [layer.infer_frame_chunk for layer in layers]
    for layer in layers:
        layer.infer_frame_chunk = None
    try:
        yield
    finally:
        for layer, chunk in zip(layers, saved):
            layer.infer_frame_chunk = chunk


class SeqFormerEncodeGraph(nn.Module):
    """frames (F, 3, H, W) -> memory per level (F, H_l, W_l, C) x L, mask_feats (F, c, H8, W8)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: Tensor) -> Tuple[Tensor, ...]:
        enc = self.model.encode(frames)
        memory, n, shapes = enc['memory'], frames.shape[0], enc['level_shapes']
        levels = [memory[:, start:start + h * w].reshape(n, h, w, -1)
                  for (h, w), start in zip(shapes, level_starts(shapes))]
        return (*levels, enc['mask_feats'])


class SeqFormerDecodeGraph(nn.Module):
    """memory per level (T, H_l, W_l, C) x L -> logits (Q, K), inst_queries (Q, C), reference (T, Q, 4)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *levels: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        t = levels[0].shape[0]
        shapes = tuple((lvl.shape[1], lvl.shape[2]) for lvl in levels)
        memory = torch.cat([lvl.flatten(1, 2) for lvl in levels], 1)
        enc = dict(memory=memory, feat_mask=None, spatial_shapes=shapes, level_start_index=None,
                   valid_ratios=memory.new_ones((t, len(levels), 2)))
        with whole_clip_decoding(self.model):
            dec = self.model.decode(enc, 1, t)
        inst = dec['inst_queries'][-1, 0]
        return self.model.track_head.cls_branches[-1](inst), inst, dec['references'][-1][0]


class SeqFormerMasksGraph(nn.Module):
    """inst_queries (k, C), reference (t, k, 4), mask_feats (t, c, H8, W8), img_wh (2,) -> (k, t, 2*H8, 2*W8)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inst_queries: Tensor, reference: Tensor, mask_feats: Tensor, img_wh: Tensor) -> Tensor:
        return self.model.track_head.video_masks_scaled(inst_queries, reference, mask_feats, img_wh)


def seqformer_deploy_graphs(model: nn.Module) -> List[DeployGraph]:
    """The graphs of a :class:`SeqFormer` (encode, decode, masks) with their names and dynamic axes."""
    levels = tuple(f'memory_l{i}' for i in range(model.num_feature_levels))
    hw = {2: 'H8', 3: 'W8'}
    frames_axes = {0: 'frames', 2: 'height', 3: 'width'}
    level_axes = {name: {0: 'frames', 1: f'h_l{i}', 2: f'w_l{i}'} for i, name in enumerate(levels)}
    return [
        DeployGraph('encode', SeqFormerEncodeGraph(model), ('frames',), (*levels, 'mask_feats'),
                    dict(frames=frames_axes)),
        DeployGraph('decode', SeqFormerDecodeGraph(model), levels, ('logits', 'inst_queries', 'reference'),
                    level_axes),
        DeployGraph('masks', SeqFormerMasksGraph(model), ('inst_queries', 'reference', 'mask_feats', 'img_wh'),
                    ('mask_logits',),
                    dict(inst_queries={0: 'queries'}, reference={0: 'frames', 1: 'queries'},
                         mask_feats={0: 'frames', **hw}),
                    example=lambda run: (run['inst_queries'][:EXAMPLE_QUERIES],
                                         run['reference'][:, :EXAMPLE_QUERIES], run['mask_feats'], run['img_wh'])),
    ]
