"""AutocastOptimWrapper: bfloat16 forward on CPU, float32 weights, gradients and SeqFormer losses."""
import copy

import torch
from mmengine.optim import build_optim_wrapper

import mmseqformer  # noqa: F401  (registers the wrapper)
from tests.test_models.conftest import tiny_model
from tests.test_models.test_seqformer import make_clip


def test_seqformer_step_runs_bfloat16_matmuls_with_float32_losses_and_weights():
    model = tiny_model().train()
    reference = copy.deepcopy(model)
    wrapper = build_optim_wrapper(model, dict(type='AutocastOptimWrapper',
                                              optimizer=dict(type='AdamW', lr=1e-3)))
    frames, sample = make_clip(3, (64, 96), (64, 96))
    torch.manual_seed(0)  # the same attention-dropout masks in both passes
    with torch.no_grad():
        full = model.loss(frames[None], [sample])
    dtypes = []
    handle = model.track_head.cls_branches[-1].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    torch.manual_seed(0)
    with wrapper.optim_context(model):
        losses = model.loss(frames[None], [sample])
    handle.remove()
    assert dtypes == [torch.bfloat16]  # the class branch ran under autocast
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    wrapper.update_params(sum(losses.values()))
    params = dict(model.named_parameters())
    assert all(p.dtype == torch.float32 for p in params.values())
    changed = [n for n, p in reference.named_parameters() if p.requires_grad and not torch.equal(p, params[n])]
    assert len(changed) > 0.9 * sum(p.requires_grad for p in reference.parameters())

    # the float32 losses, within bfloat16 rounding
    for k, v in full.items():
        assert abs(float(losses[k]) - float(v)) <= 0.05 * abs(float(v)) + 0.02, (k, float(losses[k]), float(v))


def test_outside_the_context_nothing_is_cast():
    model = torch.nn.Linear(4, 2)
    wrapper = build_optim_wrapper(model, dict(type='AutocastOptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
    with wrapper.optim_context(model):
        assert model(torch.ones(1, 4)).dtype == torch.bfloat16
    assert model(torch.ones(1, 4)).dtype == torch.float32
