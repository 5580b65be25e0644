"""Importance criteria checked against independent computations on a tiny model."""
from __future__ import annotations

import torch
from torch import nn

from edgeprune.prune import importance
from edgeprune.prune.layers import discover, prunable
from edgeprune.prune.masks import global_layer_sparsity


def _tiny():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    g = torch.Generator().manual_seed(1)
    calib = [(torch.randn(8, 5, generator=g), torch.randint(0, 3, (8,), generator=g)) for _ in range(3)]
    return model, calib


def _explicit_grasp(model: nn.Module, names: list[str], calib) -> dict[str, torch.Tensor]:
    """S = -w * (H g) with H from ``torch.autograd.functional.hessian`` over the flattened weights."""
    params = dict(model.named_parameters())
    shapes = [params[n].shape for n in names]
    sizes = [params[n].numel() for n in names]
    flat0 = torch.cat([params[n].detach().flatten() for n in names])

    def loss(flat):
        chunks = torch.split(flat, sizes)
        over = {n: c.view(s) for n, c, s in zip(names, chunks, shapes)}
        full = {k: v.detach() for k, v in params.items()} | over
        return sum(nn.functional.cross_entropy(torch.func.functional_call(model, full, (x,)), y)
                   for x, y in calib) / len(calib)

    g = torch.autograd.functional.jacobian(loss, flat0)
    h = torch.autograd.functional.hessian(loss, flat0)
    s = -flat0 * (h @ g)
    return {n: c.view(sh) for n, c, sh in zip(names, torch.split(s, sizes), shapes)}


def test_grasp_removes_the_highest_s_as_published():
    model, calib = _tiny()
    layers = prunable(discover(model))
    names = [l.name for l in layers]
    ours = importance.score("grasp", model, layers, calib)
    s = _explicit_grasp(model, names, calib)
    # our keep-score is -S exactly (higher = kept)
    for n in names:
        torch.testing.assert_close(ours[n], -s[n], rtol=1e-4, atol=1e-7)
    # and at every global target the kept set is the set of the lowest S
    flat_s = torch.cat([s[n].flatten() for n in names])
    flat_ours = torch.cat([ours[n].flatten() for n in names])
    for target in (0.3, 0.5, 0.7, 0.9):
        k = round(target * flat_s.numel())
        removed_ref = set(torch.topk(flat_s, k).indices.tolist())  # highest S removed
        removed_ours = set(torch.topk(-flat_ours, k).indices.tolist())  # lowest keep-score removed
        assert removed_ours == removed_ref
        sparsity = global_layer_sparsity(ours, target)
        assert sum(sparsity[n] * ours[n].numel() for n in names) == k


def test_snip_is_abs_weight_times_full_gradient():
    model, calib = _tiny()
    layers = prunable(discover(model))
    ours = importance.score("snip", model, layers, calib)
    params = dict(model.named_parameters())
    loss = sum(nn.functional.cross_entropy(model(x), y) for x, y in calib) / len(calib)
    grads = torch.autograd.grad(loss, [params[l.name] for l in layers])
    for l, gr in zip(layers, grads):
        torch.testing.assert_close(ours[l.name], (params[l.name] * gr).abs().detach(), rtol=1e-5, atol=1e-8)


def test_ranges_record_what_each_baseline_removes():
    assert "highest S removed" in importance.DEFINITIONS["grasp"]
