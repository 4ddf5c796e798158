"""ObjPropHead behaviour beyond the parity cases: init, the weighted affinity, frames without shared instances."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData
from torch import nn

from mmseqformer.models.heads import ObjPropHead
from mmseqformer.models.utils.box_raster import gaussian_cell_prior, rasterise_boxes


def small_head(**kwargs):
    torch.manual_seed(0)
    head = ObjPropHead(in_channels=8, channels=16, num_classes=3, **kwargs)
    head.init_weights()
    return head


def feats(batch=1, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 8, 32 // s, 40 // s, generator=g) for s in (1, 2, 4, 8)]  # strides 4..32 of 128x160


def sample(boxes, ids, labels=None, masks=True):
    s = DetDataSample(metainfo=dict(batch_input_shape=(128, 160)))
    inst = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float).view(-1, 4), instances_ids=torch.tensor(ids))
    if labels is not None:
        inst.labels = torch.tensor(labels)
    if masks:
        m = torch.zeros(len(ids), 128, 160, dtype=torch.uint8)
        for k, (x1, y1, x2, y2) in enumerate(boxes):
            m[k, int(y1):int(y2), int(x1):int(x2)] = 1
        inst.masks = BitmapMasks(m.numpy(), 128, 160)
    s.gt_instances = inst
    return s


def test_official_init():
    head = small_head()
    for module in head.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.bias, torch.ones_like(module.bias))
            assert torch.equal(module.weight, torch.ones_like(module.weight))
        elif type(module) is nn.Conv2d:
            assert not module.bias.any()
    assert head.upsample.bias.abs().sum() > 0  # the deconv keeps PyTorch's default init


def test_weighted_affinity_starts_as_dot_and_has_one_more_parameter():
    dot, weighted = small_head(), small_head(affinity='weighted')
    assert set(weighted.state_dict()) - set(dot.state_dict()) == {'affinity_weight'}
    ref, cur = torch.randn(2, 16, 4, 5), torch.randn(2, 16, 4, 5)
    torch.testing.assert_close(weighted.affinity(ref, cur), dot.affinity(ref, cur))
    with torch.no_grad():
        weighted.affinity_weight.mul_(2)
    assert not torch.allclose(weighted.affinity(ref, cur), dot.affinity(ref, cur))
    with pytest.raises(ValueError, match='affinity'):
        ObjPropHead(affinity='cosine')


def test_instances_gone_from_the_key_frame_give_a_zero_mask_loss_that_keeps_the_graph():
    head = small_head().train()
    key = sample([[10, 10, 50, 60]], [5], labels=[2])
    ref = sample([[20, 20, 60, 70], [80, 8, 150, 40]], [7, 3], masks=False)
    losses = head.loss(feats(), feats(seed=2), [key], [ref])
    assert losses['loss_propmask'].item() == 0 and losses['loss_propmask'].requires_grad
    assert losses['loss_propattn'] > 0
    empty_key = sample([], [], labels=[])
    losses = head.loss(feats(), feats(seed=2), [empty_key], [ref])
    assert losses['loss_propmask'].item() == 0
    losses = head.loss(feats(), feats(seed=2), [key], [sample([], [], masks=False)])
    assert losses['loss_propattn'].item() == 0 and losses['loss_propattn'].requires_grad


def test_shared_instance_trains_the_mask_branch():
    head = small_head().train()
    key = sample([[10, 10, 50, 60], [90, 20, 140, 90]], [5, 7], labels=[2, 1])
    ref = sample([[20, 20, 60, 70]], [7], masks=False)
    losses = head.loss(feats(), feats(seed=2), [key], [ref])
    losses['loss_propmask'].backward()
    assert head.conv_logits.weight.grad[1].abs().sum() > 0  # the shared instance's label channel
    assert not head.conv_logits.weight.grad[[0, 2]].any()


def test_rasterise_is_half_open_floor_and_thin_boxes_can_vanish():
    grid = rasterise_boxes(torch.tensor([[8., 8., 24., 17.], [9., 0., 15.9, 40.]]), (4, 5), stride=8)
    assert grid[0].nonzero().tolist() == [[1, 1], [1, 2]]  # rows 1:2, cols 1:3
    assert not grid[1].any()  # x 9..15.9 -> cells 1:1


def test_gaussian_prior_uses_sigma_squared_on_row_col_cells():
    prior = gaussian_cell_prior((3, 4), 2.0, torch.device('cpu'))
    assert prior.shape == (12, 12)
    assert prior[0, 0] == 1
    torch.testing.assert_close(prior[0, 5], torch.exp(torch.tensor(-2 / 4.)))  # (0,0)-(1,1): d^2 = 2


def test_predict_in_chunks_gives_the_same_maps():
    head = small_head().eval()
    with torch.no_grad():
        cur, past = head.fuse(feats()), [head.fuse(feats(seed=s)) for s in (2, 3)]
        boxes = torch.tensor([[8., 8., 60., 70.], [40., 20., 120., 100.], [0., 0., 30., 30.]])
        args = (cur, past, torch.tensor([0, 1, 1]), boxes, torch.tensor([0, 2, 1]), (128, 160))
        head.predict_chunk = 1
        one = head.predict(*args)
        head.predict_chunk = 8
        torch.testing.assert_close(head.predict(*args), one)
    assert one.shape == (3, 128, 160) and ((one > 0) & (one < 1)).all()
