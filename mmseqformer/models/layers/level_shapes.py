"""Feature-level sizes of a multi-scale memory as Python ints, so that code using them traces for export."""
from typing import List, Sequence, Tuple, Union

import torch
from torch import Tensor

# (L, 2) tensor of (H_l, W_l), as mmcv/mmdet pass it, or L (H_l, W_l) pairs of ints (under torch.export: symbolic
# ints taken from the feature maps' shapes, which keep the graph's image size dynamic; a tensor's values would not)
LevelShapes = Union[Tensor, Sequence[Tuple[int, int]]]


def level_sizes(spatial_shapes: LevelShapes) -> List[Tuple[int, int]]:
    """[(H_l, W_l), ...] of either form."""
    if isinstance(spatial_shapes, Tensor):
        return [(h, w) for h, w in spatial_shapes.tolist()]
    return [(h, w) for h, w in spatial_shapes]


def level_starts(spatial_shapes: LevelShapes) -> List[int]:
    """Start of each level in the flattened memory (the values of mmdet's ``level_start_index``)."""
    starts, start = [], 0
    for h, w in level_sizes(spatial_shapes):
        starts.append(start)
        start = start + h * w
    return starts


def offset_normalizer(spatial_shapes: LevelShapes, like: Tensor) -> Tensor:
    """(L, 2) (W_l, H_l) in ``like``'s dtype and device: sampling offsets in cells -> fractions of the level."""
    if isinstance(spatial_shapes, Tensor):
        return torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1).to(like)
    return torch.stack([torch.stack([like.new_ones(()) * w, like.new_ones(()) * h]) for h, w in spatial_shapes])


def shapes_tensor(spatial_shapes: LevelShapes, device: torch.device) -> Tensor:
    """(L, 2) int64 tensor of either form (what mmcv's CUDA kernel takes).

    Built as ``one * size`` products: ``torch.as_tensor`` of symbolic ints would fix the image size of a graph.
    """
    if isinstance(spatial_shapes, Tensor):
        return spatial_shapes
    one = torch.ones((), dtype=torch.long, device=device)
    return torch.stack([torch.stack([one * h, one * w]) for h, w in level_sizes(spatial_shapes)])
