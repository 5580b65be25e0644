"""The parity rule: logits within a tolerance relative to their scale (fp32 noise grows with them),
and the advice of a failed export names an option the command that ran has."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from edgeprune.export import ExportFailed  # noqa: E402
from edgeprune.export.parity import DEFAULT_RULE, LogitsRule, check, reference  # noqa: E402


def big_logit_model():
    """test_resnet with its classifier scaled by 1e3: logits in the thousands."""
    from edgeprune.models import create_model, randomise_constants, resolve_spec

    torch.manual_seed(0)
    model = create_model(resolve_spec("test_resnet", 10, 32)).eval()
    randomise_constants(model, 0)
    with torch.no_grad():
        head = model.get_classifier()
        head.weight.mul_(1e3)
        head.bias.mul_(1e3)
    return model


def test_large_logits_pass_and_a_real_mismatch_fails(tmp_path):
    from onnx import numpy_helper

    from edgeprune.export import onnx_format

    model = big_logit_model()
    x = np.random.default_rng(0).standard_normal((16, 3, 32, 32)).astype(np.float32)
    ref = reference(model, x)
    proto = onnx.load_from_string(onnx_format.convert(model, torch.from_numpy(x[:1]), ram_limit=None).data)
    good = tmp_path / "good.onnx"
    onnx.save(proto, good)
    rec, _ = check(good, ".onnx", "NCHW", x, ref, "random", "good.onnx")
    assert rec["logit_scale"] > 100 and rec["max_abs_diff"] <= rec["tolerance"] == DEFAULT_RULE.rtol * rec["logit_scale"]
    assert rec["max_abs_diff"] > 1e-4 and rec["top1_agreement"] == 1.0  # the old fixed 1e-4 would have stopped it

    # a real mismatch: one weight tensor off by 1% (a wrong scale folded in, a stale weight)
    init = next(i for i in proto.graph.initializer if numpy_helper.to_array(i).ndim == 4)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.01, init.name))
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, bad)
    with pytest.raises(ExportFailed) as err:
        check(bad, ".onnx", "NCHW", x, ref, "random", "bad.onnx")
    assert "disagrees with PyTorch" in str(err.value) and "rtol" in str(err.value) and "\n" not in str(err.value)


def test_rule_counts_top1_changes_only_outside_ties():
    rule = LogitsRule(rtol=1e-4, atol=1e-5)
    ref = np.array([[10.0, 10.0005, 0.0], [5.0, 1.0, 0.0]])  # row 0: top two 5e-4 apart, tolerance 1e-3
    out = ref.copy()
    out[0] = [10.0005, 10.0, 0.0]  # flips within the tolerance: a tie
    rec = rule.judge(out, ref)
    assert rec["passed"] and rec["top1_agreement"] == 0.5 and rec["top1_changes_outside_ties"] == 0
    out = ref.copy()
    out[1] = [5.0, 5.5, 0.0]  # a clear flip, far beyond the tolerance
    rec = rule.judge(out, ref)
    assert not rec["passed"] and rec["top1_changes_outside_ties"] == 1
    nan = rule.judge(np.full_like(ref, np.nan), ref)
    assert not nan["passed"]
    small = rule.judge(ref * 1e-3 + 5e-6, ref * 1e-3)  # logits near zero: the atol floor decides
    assert small["tolerance"] == 1e-5 and small["passed"]


def test_failure_advice_names_an_option_of_the_command_that_ran():
    from edgeprune import build, cli
    from edgeprune.export.pipeline import SKIP_HINT, _raise_failures

    def options(cmd) -> set[str]:
        return {o for p in cmd.params for o in p.opts}

    records = {"a": {"formats": {"onnx": {"error": "a.onnx: disagrees"}, "tflite": {"file": "a.tflite"}}}}
    with pytest.raises(ExportFailed) as err:
        _raise_failures(records, ["onnx", "tflite"], "RUN/artifacts")
    assert "To leave onnx out, pass --formats tflite." in str(err.value)
    assert "--formats" in options(cli.export) and SKIP_HINT.startswith("pass --formats")  # `edgeprune export`
    # `edgeprune build` names its own --formats
    hint = build.EXPORT_SKIP_HINT
    assert "--formats" in options(cli.build) and "--formats {ok}" in hint
    with pytest.raises(ExportFailed) as err:
        _raise_failures(records, ["onnx", "tflite"], "RUN/artifacts", hint)
    assert "re-run the build with --formats tflite" in str(err.value)
