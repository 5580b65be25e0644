"""Export outside a run: CNN and ViT round trips, exact weights, size floor, unsupported ops, masks."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("litert_torch")

from torch import nn  # noqa: E402

from edgeprune.export import ParityInputs, Source, export_model, export_source, sparse_onnx, sparse_tflite  # noqa: E402
from edgeprune.export.prepare import fold_mask_keys, strip_masks  # noqa: E402
from edgeprune.models import ModelSpec, create_model, randomise_constants, resolve_spec  # noqa: E402
from edgeprune.runio import read_json  # noqa: E402


def random_masks(model: nn.Module, sparsity: float, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() >= 2:
                p.mul_(torch.rand(p.shape, generator=gen) >= sparsity)


def test_vit_round_trip_through_the_cli(tmp_path):
    """test_vit, 7 classes, pruned 90 % with torch.nn.utils.prune, saved with its masks as a .pt."""
    from click.testing import CliRunner
    from torch.nn.utils import prune

    from edgeprune.cli import main

    torch.manual_seed(0)
    model = create_model(resolve_spec("test_vit", 7, 32)).eval()
    linears = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    prune.global_unstructured(linears, pruning_method=prune.L1Unstructured, amount=0.9)
    sd = model.state_dict()
    assert any(k.endswith("weight_mask") for k in sd)
    torch.save(sd, tmp_path / "vit90.pt")
    strip_masks(model)

    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["export", "--model", "test_vit", "--checkpoint", str(tmp_path / "vit90.pt"),
                                    "--input-shape", "1,3,32,32", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rec = read_json(out / "vit90.json")
    assert rec["model"]["num_classes"] == 7 and rec["sparsity"] > 0.85
    for fmt in ("onnx", "tflite"):
        e = rec["formats"][fmt]
        assert (out / f"vit90.{fmt}").stat().st_size == e["bytes"] < rec["dense_bytes"] / 3
        assert e["parity"]["max_abs_diff"] <= 1e-4 and e["parity"]["top1_agreement"] == 1.0
        assert e["parity"]["inputs"].startswith("random-normal")
    init_names = [i.name for i in onnx.load(out / "vit90.onnx").graph.initializer]
    assert not [n for n in init_names if n.endswith(("_mask", "_orig"))]
    # the artifact computes the pruned model: check against it directly, independent of the recorded parity
    from edgeprune.runtimes import open_runner

    x = np.random.default_rng(5).standard_normal((4, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    for fmt in ("onnx", "tflite"):
        np.testing.assert_allclose(open_runner(out / f"vit90.{fmt}").run(x), ref, atol=1e-4)


def test_cnn_at_90_percent_is_within_1_4x_of_the_floor(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = create_model(resolve_spec("test_resnet", 10, 32)).eval()
    randomise_constants(model)
    random_masks(model, 0.9)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "cnn90.safetensors"))
    rec = export_model("test_resnet", tmp_path / "cnn90.safetensors", [1, 3, 32, 32], tmp_path / "out")
    assert rec["sparsity"] == pytest.approx(0.9, abs=0.01)
    for fmt in ("onnx", "tflite"):
        e = rec["formats"][fmt]
        # ONNX: the RAM rule may store tensors larger than their smallest encoding (issue 11); on a model this
        # small the measured peak moves by allocator pages, so which ones varies. The encodings themselves must
        # reach 1.4x (the file minus what the RAM rule added), and whatever it added is recorded and kept RAM in.
        ram = e.get("ram") or {}
        added = sum(chosen - smallest for chosen, smallest in
                    (v["bytes"] for v in (ram.get("limited") or {}).values()))
        assert (e["bytes"] - added) / rec["floor_bytes"] <= 1.4, (fmt, e["ratio_to_floor"], added)
        if added:
            assert ram["within_limit"] and ram["why"].startswith(f"{len(ram['limited'])} tensor(s) stored larger")
        else:
            assert e["ratio_to_floor"] <= 1.4, (fmt, e["ratio_to_floor"])
        assert e["parity"]["max_abs_diff"] <= 1e-4


class TinyCNN(nn.Sequential):
    """No BatchNorm: the exported weights are the PyTorch weights, bit for bit. Conv, depthwise, linear."""

    def __init__(self):
        super().__init__(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 300), nn.ReLU(), nn.Linear(300, 10))
        self.insert(2, nn.Conv2d(32, 32, 5, padding=2, groups=32))  # depthwise, index 2


PRUNED = {0: 0.5, 2: 0.7, 3: 0.9, 7: 0.95}  # layer index -> sparsity; the last Linear (9) stays dense


def test_sparse_encodings_decode_to_exactly_the_pruned_weights():
    """Read both files back through their schemas (onnx protobuf, TFLite flatbuffer), not the runtimes."""
    from edgeprune.export import onnx_format, tflite_format

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    torch.manual_seed(0)
    model = TinyCNN().eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for i, s in PRUNED.items():
            model[i].weight.mul_(torch.rand(model[i].weight.shape, generator=gen) >= s)
    weights = {i: model[i].weight.detach().numpy() for i in (*PRUNED, 9)}
    sample = torch.randn(1, 3, 16, 16)

    def find(arrays: list[np.ndarray], w: np.ndarray, layouts) -> bool:
        return any(a.shape == lw.shape and np.array_equal(a, lw) for a in arrays for lw in layouts(w))

    # ONNX: weights as OIHW (conv) and [out, in] or [in, out] (Gemm / MatMul)
    proto = onnx.load_from_string(onnx_format.convert(model, sample).data)
    decoded = sparse_onnx.decode_model(proto)  # ONNX's numpy reference evaluator on the decode subgraph
    plain = [onnx.numpy_helper.to_array(i) for i in proto.graph.initializer if "::" not in i.name]
    onnx_layouts = lambda w: [w, w.T] if w.ndim == 2 else [w]  # noqa: E731
    for i in PRUNED:
        assert find(list(decoded.values()), weights[i], onnx_layouts), f"layer {i} not decoded exactly"
    assert find(plain, weights[9], onnx_layouts) and not find(list(decoded.values()), weights[9], onnx_layouts)

    # TFLite: conv weights as OHWI, depthwise as 1HWC, fully connected as [out, in]
    data = tflite_format.convert(model, sample).data
    sparse = list(sparse_tflite.read_weights(data).values())  # our numpy densify of Tensor.sparsity
    dense = list(sparse_tflite.dense_weights(data).values())
    tfl_layouts = lambda w: [w.transpose(0, 2, 3, 1), w.transpose(1, 2, 3, 0)] if w.ndim == 4 else [w]  # noqa: E731
    for i in PRUNED:
        assert find(sparse, weights[i], tfl_layouts), f"layer {i} not decoded exactly"
    assert find(dense, weights[9], tfl_layouts) and not find(sparse, weights[9], tfl_layouts)
    assert len(sparse) == len(PRUNED)

    # and LiteRT runs it, through XNNPACK (default) and through TFLite's own DENSIFY kernel
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = model(x).numpy()
    for resolver in (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
        it = Interpreter(model_content=data, experimental_op_resolver_type=resolver)
        it.allocate_tensors()
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        for row, r in zip(x, ref):
            it.set_tensor(inp["index"], row[None].permute(0, 2, 3, 1).contiguous().numpy())
            it.invoke()
            np.testing.assert_allclose(it.get_tensor(out["index"])[0], r, atol=1e-4)


class AntialiasResize(nn.Module):
    def forward(self, x):
        return nn.functional.interpolate(x, scale_factor=0.5, mode="bicubic", antialias=True)


def test_unconvertible_op_names_op_and_module_and_other_format_exports(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), AntialiasResize(), nn.Flatten(), nn.Linear(8 * 7 * 7, 4)).eval()
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    x = np.random.default_rng(0).standard_normal((4, 3, 16, 16)).astype(np.float32)
    source = Source("odd", tmp_path / "w.safetensors", "w.safetensors", ModelSpec("custom", 4), [1, 3, 16, 16],
                    lambda: model)
    rec = export_source(source, ["onnx", "tflite"], tmp_path / "out", ParityInputs(x, "random"))
    assert rec["formats"]["onnx"]["parity"]["max_abs_diff"] <= 1e-4 and (tmp_path / "out" / "odd.onnx").is_file()
    err = rec["formats"]["tflite"]["error"]
    assert "\n" not in err and "aten._upsample_bicubic2d_aa" in err and "module '1' (AntialiasResize)" in err
    assert not (tmp_path / "out" / "odd.tflite").exists()


class CumProd(nn.Module):
    def forward(self, x):
        return torch.cumprod(x, dim=1)


def test_onnx_exporter_failure_names_the_decomposed_op_and_its_module(tmp_path):
    from safetensors.torch import save_file

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), CumProd()), nn.Flatten(),
                          nn.Linear(4 * 14 * 14, 3)).eval()
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    source = Source("cp", tmp_path / "w.safetensors", "w.safetensors", ModelSpec("custom", 3), [1, 3, 16, 16],
                    lambda: model)
    err = export_source(source, ["onnx"], tmp_path / "out", ParityInputs(x, "random"))["formats"]["onnx"]["error"]
    assert err.startswith("onnx: the ONNX exporter") and "op prims.prod in module '1.1' (CumProd)" in err


def test_masks_are_folded_from_checkpoints_and_stripped_from_modules():
    from torch.nn.utils import parametrize, prune

    class Mask(nn.Module):
        def __init__(self, mask):
            super().__init__()
            self.register_buffer("mask", mask)

        def forward(self, w):
            return w * self.mask

    a, b = nn.Linear(6, 5), nn.Conv2d(2, 3, 3)
    prune.random_unstructured(a, "weight", amount=0.5)
    parametrize.register_parametrization(b, "weight", Mask((torch.rand_like(b.weight) > 0.5).float()))
    model = nn.Sequential(a, b)
    expected = {"0.weight": a.weight.detach().clone(), "1.weight": b.weight.detach().clone()}
    folded = fold_mask_keys(model.state_dict())
    assert set(folded) == {"0.weight", "0.bias", "1.weight", "1.bias"}
    for k, v in expected.items():
        assert torch.equal(folded[k], v)
    strip_masks(model)
    assert set(model.state_dict()) == {"0.weight", "0.bias", "1.weight", "1.bias"}
    for k, v in expected.items():
        assert torch.equal(model.state_dict()[k], v)


def test_restated_num_classes_is_accepted_when_it_agrees_and_explained_when_not(tmp_path):
    """export --model X --model-arg num_classes=N --checkpoint ...: N is what the checkpoint implies, or one line."""
    from click.testing import CliRunner
    from safetensors.torch import save_file

    from edgeprune.cli import main
    from edgeprune.errors import EdgepruneError

    torch.manual_seed(0)
    model = create_model(resolve_spec("test_resnet", 3, 32)).eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "three.safetensors"))
    base = ["export", "--model", "test_resnet", "--checkpoint", str(tmp_path / "three.safetensors"),
            "--input-shape", "1,3,32,32", "--formats", "onnx"]
    ok = CliRunner().invoke(main, base + ["--model-arg", "num_classes=3", "--out", str(tmp_path / "ok")])
    assert ok.exit_code == 0, ok.output
    rec = read_json(tmp_path / "ok" / "three.json")
    assert rec["model"]["num_classes"] == 3 and "num_classes" not in rec["model"]["kwargs"]
    bad = CliRunner().invoke(main, base + ["--model-arg", "num_classes=5", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 1 and bad.output.strip().count("\n") == 0
    assert bad.output.startswith("error: --model-arg num_classes=5 disagrees with the checkpoint three.safetensors, "
                                 "which has 3 classes. Drop --model-arg num_classes")
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
    # the prune path: the number of classes comes from the data set
    assert resolve_spec("test_resnet", 10, 32, {"num_classes": 10}).kwargs == {}
    with pytest.raises(EdgepruneError, match="num_classes=5 disagrees with the data set, which has 10 classes"):
        resolve_spec("test_resnet", 10, 32, {"num_classes": 5})
