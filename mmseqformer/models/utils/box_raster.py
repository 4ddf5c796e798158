"""Boxes as binary maps on a grid, and a spatial prior between grid cells (model-neutral helpers)."""
from functools import lru_cache
from typing import Tuple

import torch
from torch import Tensor


def rasterise_boxes(boxes: Tensor, size: Tuple[int, int], stride: float = 1.0) -> Tensor:
    """Cells covered by boxes on a grid of cell size ``stride``: rows ``floor(y1/s):floor(y2/s)``, columns
    ``floor(x1/s):floor(x2/s)``, end cell excluded (half-open, so a box thinner than a cell can cover nothing).

    Args:
        boxes: (N, 4) x1, y1, x2, y2 in pixels (clamped to the grid).
        size: grid (h, w).
        stride: pixels per cell.

    Returns:
        (N, h, w) float, 1 inside.
    """
    h, w = size
    cells = torch.div(boxes.detach().float(), stride, rounding_mode='floor')
    x1, y1, x2, y2 = cells.unbind(-1)
    rows = torch.arange(h, device=boxes.device).view(1, h, 1)
    cols = torch.arange(w, device=boxes.device).view(1, 1, w)
    inside_y = (rows >= y1.view(-1, 1, 1)) & (rows < y2.view(-1, 1, 1))
    inside_x = (cols >= x1.view(-1, 1, 1)) & (cols < x2.view(-1, 1, 1))
    return (inside_y & inside_x).float()


@lru_cache(maxsize=8)
def _gaussian_prior(h: int, w: int, sigma: float, device: str) -> Tensor:
    rows = torch.arange(h, device=device).repeat_interleave(w).float()
    cols = torch.arange(w, device=device).repeat(h).float()
    dist2 = (rows[:, None] - rows[None]) ** 2 + (cols[:, None] - cols[None]) ** 2
    return torch.exp(-dist2 / sigma ** 2)


def gaussian_cell_prior(size: Tuple[int, int], sigma: float, device: torch.device) -> Tensor:
    """``exp(-d^2 / sigma^2)`` between every two cells of an (h, w) grid, d the (row, col) distance in cells.

    Returns:
        (h*w, h*w), row-major cell order; cached per size (read-only: do not modify in place).
    """
    return _gaussian_prior(int(size[0]), int(size[1]), float(sigma), str(device))
