"""BatchNorm re-estimation after a structured cut (edgeprune.train.recalibrate_batchnorm) and the
structured fine-tuning recipe."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgeprune.data import load_dataset
from edgeprune.prune import PruneConfig
from edgeprune.prune.recipes import dense_recipe, finetune_recipe, structured_finetune_recipe
from edgeprune.train import recalibrate_batchnorm


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 10))


def test_running_statistics_become_the_mean_of_the_training_batches_statistics_and_nothing_else_changes():
    data = load_dataset("digits")
    model = _net().eval()
    bn = model[1]
    bn.running_mean.fill_(100.0)
    bn.running_var.fill_(1e-6)  # stale statistics, as after removing the channels that fed this layer
    params = {k: v.clone() for k, v in model.named_parameters()}
    n, batch = 300, 128
    assert recalibrate_batchnorm(model, data, batch_size=batch, seed=5, n_images=n) == 1
    x = data.normalize(data.x_train[np.random.default_rng(5).permutation(len(data.x_train))[:n]])
    with torch.no_grad():
        feats = [model[0](torch.from_numpy(x[i:i + batch])) for i in range(0, n, batch)]
    mean = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    var = torch.stack([f.transpose(0, 1).reshape(4, -1).var(1, unbiased=True) for f in feats]).mean(0)
    assert torch.allclose(bn.running_mean, mean, atol=1e-5) and torch.allclose(bn.running_var, var, rtol=1e-4)
    assert bn.momentum == 0.1 and not model.training  # restored
    assert all(torch.equal(v, params[k]) for k, v in model.named_parameters())


def test_a_network_without_batchnorm_is_left_alone():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    before = [p.clone() for p in model.parameters()]
    assert recalibrate_batchnorm(model, load_dataset("digits")) == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("model", ["resnet18", "vgg11", "deit_tiny_patch16_224"])
def test_structured_fine_tuning_runs_at_half_the_dense_rate_unless_the_user_sets_one(model):
    cfg = PruneConfig(model=model)
    s = structured_finetune_recipe(cfg)
    assert s.lr == pytest.approx(dense_recipe(cfg).lr / 2) and s.lr > finetune_recipe(cfg).lr
    assert {**s.to_json(), "lr": 0} == {**finetune_recipe(cfg).to_json(), "lr": 0}  # all else as unstructured
    given = PruneConfig(model=model, finetune_lr=3e-5)
    assert structured_finetune_recipe(given).lr == finetune_recipe(given).lr == 3e-5


def test_finetune_lr_on_the_command_line_reaches_the_config_and_a_non_positive_one_is_refused(tmp_path):
    from click.testing import CliRunner

    from edgeprune.cli import main
    from edgeprune.cli_options import _prune_config

    base = dict(model="resnet18", model_args=(), checkpoint=None, data="digits", input_size=None, signals=None,
                strategies=None, epochs=None, seed=0, device="auto", executor="local", ray_address=None)
    assert _prune_config(**base, finetune_lr=2e-4).finetune_lr == 2e-4 and _prune_config(**base).finetune_lr is None
    res = CliRunner().invoke(main, ["prune", "--finetune-lr", "0", "--out", str(tmp_path / "run")])
    assert res.exit_code != 0 and "--finetune-lr" in res.output and not (tmp_path / "run").exists()
