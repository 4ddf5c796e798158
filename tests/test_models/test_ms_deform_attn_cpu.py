"""The CPU deformable-attention path equals mmcv's PyTorch reference in values and gradients."""
import torch
from mmcv.ops import multi_scale_deform_attn

import mmseqformer  # noqa: F401  (installs the faster path into mmcv)
from mmseqformer.models.layers.ms_deform_attn_cpu import multi_scale_deformable_attn_cpu


def inputs(requires_grad=False):
    g = torch.Generator().manual_seed(0)
    shapes = torch.tensor([[12, 20], [6, 10], [3, 5], [2, 3]])
    num = int(shapes.prod(1).sum())
    value = torch.randn(3, num, 4, 8, generator=g)
    # locations partly outside [0, 1]: zero padding must match too
    loc = torch.rand(3, 7, 4, 4, 2, 2, generator=g) * 1.2 - 0.1
    attn = torch.rand(3, 7, 4, 4, 2, generator=g).flatten(-2).softmax(-1).view(3, 7, 4, 4, 2)
    return [t.requires_grad_(requires_grad) for t in (value, loc, attn)], shapes


def test_values_and_gradients_match_mmcv():
    reference = multi_scale_deform_attn.mmcv_multi_scale_deformable_attn_pytorch
    (value, loc, attn), shapes = inputs()
    with torch.no_grad():  # the in-place path
        torch.testing.assert_close(multi_scale_deformable_attn_cpu(value, shapes, loc, attn),
                                   reference(value, shapes, loc, attn), atol=1e-6, rtol=1e-5)
    grads = []
    for fn in (multi_scale_deformable_attn_cpu, reference):
        tensors, _ = inputs(requires_grad=True)
        out = fn(tensors[0], shapes, tensors[1], tensors[2])
        assert out.shape == (3, 7, 32)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads.append([t.grad for t in tensors])
    for ours, theirs in zip(*grads):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_mmcv_module_uses_it():
    assert multi_scale_deform_attn.multi_scale_deformable_attn_pytorch is multi_scale_deformable_attn_cpu
