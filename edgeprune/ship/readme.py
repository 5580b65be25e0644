"""README.md for the firmware team, generated from the manifest's real values."""
from __future__ import annotations

from .devicecmds import render as render_device_bench
from .manifest import EVAL_FILE, tolerance
from .precision_notes import int8_facts

_FIGURE_NAMES = {"accuracy": "Accuracy", "latency_ms": "Latency", "peak_ram_mb": "Peak RAM", "size_mb": "Size"}


def _num(v: float | None, obj: str) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if obj == "accuracy" else f"{v:.3f} {'ms' if obj == 'latency_ms' else 'MB'}"


def _dims(m: dict) -> tuple[int, int, int]:
    """(H, W, C) of the model input."""
    s = m["input"]["shape"]
    return (s[1], s[2], s[3]) if m["input"]["layout"] == "NHWC" else (s[2], s[3], s[1])


def _scale_expr(lo: float, hi: float, var: str) -> str:
    """Python expression mapping uint8 pixels to the model's value range."""
    if (lo, hi) == (0.0, 1.0):
        return f"{var} / 255"
    return f"{var} / 255 * {float(hi - lo)!r} + {float(lo)!r}"


def _python(m: dict) -> str:
    i, o, fmt = m["input"], m["output"], m["format"]
    h, w, c = _dims(m)
    lo, hi = i["value_range"]
    nchw = i["layout"] == "NCHW"
    layout_line = "x = x.transpose(2, 0, 1)  # HWC -> CHW (the model is NCHW)\n    " if nchw else ""
    if fmt == "onnx":
        load = (f'import onnxruntime as ort\n\nsess = ort.InferenceSession("{m["file"]}", '
                f'providers=["CPUExecutionProvider"])\n\n\ndef predict(x):\n'
                f'    return sess.run(["{o["name"]}"], {{"{i["name"]}": x}})[0]\n')
    else:
        threads = m["metrics"]["latency_ms"].get("device_threads") or 1
        load = ("try:\n    from ai_edge_litert.interpreter import Interpreter\n"
                "except ImportError:  # older devices\n    from tflite_runtime.interpreter import Interpreter\n\n"
                f'interpreter = Interpreter(model_path="{m["file"]}", num_threads={threads})\n'
                "interpreter.allocate_tensors()\n"
                "inp = interpreter.get_input_details()[0]\nout = interpreter.get_output_details()[0]\n\n\n"
                "def predict(x):\n    interpreter.set_tensor(inp[\"index\"], x)\n    interpreter.invoke()\n"
                "    return interpreter.get_tensor(out[\"index\"])\n")
    return f'''```python
import numpy as np
{load}

MEAN = np.array({i["mean"]!r}, dtype=np.float32)
STD = np.array({i["std"]!r}, dtype=np.float32)
LABELS = {m["labels"]!r}


def preprocess(image):
    """uint8 image of shape ({h}, {w}, {c}) -> model input {i["shape"]} float32 {i["layout"]}."""
    x = {_scale_expr(lo, hi, "image.astype(np.float32)")}
    x = (x - MEAN) / STD
    {layout_line}return np.ascontiguousarray(x[None], dtype=np.float32)


# Check against the bundled eval set (already preprocessed, {i["layout"]}):
data = np.load("{EVAL_FILE}")
x, y = data["x"], data["y"]
logits = np.concatenate([predict(x[k:k + 1]) for k in range(len(x))])
print("accuracy", float((logits.argmax(1) == y).mean()))  # manifest eval.expected_accuracy: {m["eval"]["expected_accuracy"]!r}
print("first image:", LABELS[int(logits[0].argmax())])
```'''


def _cpp_fill(m: dict) -> str:
    h, w, c = _dims(m)
    lo, hi = m["input"]["value_range"]
    mean = ", ".join(f"{v!r}f" for v in m["input"]["mean"])
    std = ", ".join(f"{v!r}f" for v in m["input"]["std"])
    rescale = "" if (lo, hi) == (0.0, 1.0) else f"\n        v = v * {float(hi - lo)!r}f + {float(lo)!r}f;  // value range [{lo}, {hi}]"
    index = "(y * W + x) * C + ch" if m["input"]["layout"] == "NHWC" else "ch * H * W + y * W + x"
    return f'''constexpr int H = {h}, W = {w}, C = {c};
constexpr float kMean[C] = {{{mean}}};
constexpr float kStd[C] = {{{std}}};

// image: H*W*C uint8 pixels, row-major HWC, already resized to {w}x{h}.
void Preprocess(const uint8_t* image, float* input) {{
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int ch = 0; ch < C; ++ch) {{
        float v = image[(y * W + x) * C + ch] / 255.0f;{rescale}
        input[{index}] = (v - kMean[ch]) / kStd[ch];  // {m["input"]["layout"]}
      }}
}}'''


def _cpp(m: dict) -> str:
    i, o = m["input"], m["output"]
    n_out = o["shape"][-1]
    threads = m["metrics"]["latency_ms"].get("device_threads") or 1
    if m["format"] == "tflite":
        body = f'''#include <cstdint>
#include <cstdio>
#include <memory>
#include "tensorflow/lite/interpreter.h"
#include "tensorflow/lite/kernels/register.h"
#include "tensorflow/lite/model.h"

{_cpp_fill(m)}

int main() {{
  auto model = tflite::FlatBufferModel::BuildFromFile("{m["file"]}");
  if (!model) return 1;
  tflite::ops::builtin::BuiltinOpResolver resolver;
  std::unique_ptr<tflite::Interpreter> interpreter;
  tflite::InterpreterBuilder(*model, resolver)(&interpreter);
  interpreter->SetNumThreads({threads});
  if (interpreter->AllocateTensors() != kTfLiteOk) return 1;

  static uint8_t image[H * W * C] = {{}};  // your camera frame here
  Preprocess(image, interpreter->typed_input_tensor<float>(0));  // input "{i["name"]}" {i["shape"]}
  if (interpreter->Invoke() != kTfLiteOk) return 1;
  const float* logits = interpreter->typed_output_tensor<float>(0);  // {o["shape"]}
  int best = 0;
  for (int k = 1; k < {n_out}; ++k) if (logits[k] > logits[best]) best = k;
  std::printf("class %d\\n", best);
  return 0;
}}'''
    else:
        shape = ", ".join(str(d) for d in i["shape"])
        body = f'''#include <array>
#include <cstdint>
#include <cstdio>
#include <vector>
#include <onnxruntime_cxx_api.h>

{_cpp_fill(m)}

int main() {{
  Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "edgeprune");
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads({threads});
  options.DisableCpuMemArena();  // as benchmarked
  Ort::Session session(env, "{m["file"]}", options);

  static uint8_t image[H * W * C] = {{}};  // your camera frame here
  std::vector<float> input(H * W * C);
  Preprocess(image, input.data());
  std::array<int64_t, {len(i["shape"])}> shape{{{shape}}};
  auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::Value tensor = Ort::Value::CreateTensor<float>(memory, input.data(), input.size(), shape.data(), shape.size());
  const char* input_names[] = {{"{i["name"]}"}};
  const char* output_names[] = {{"{o["name"]}"}};
  auto outputs = session.Run(Ort::RunOptions{{nullptr}}, input_names, &tensor, 1, output_names, 1);
  const float* logits = outputs[0].GetTensorData<float>();  // {o["shape"]}
  int best = 0;
  for (int k = 1; k < {n_out}; ++k) if (logits[k] > logits[best]) best = k;
  std::printf("class %d\\n", best);
  return 0;
}}'''
    return f"```cpp\n{body}\n```"


def _budget_table(m: dict) -> str:
    lines = ["| Budget | Limit | Set by | This model | How obtained | Headroom |", "|---|---|---|---|---|---|"]
    prov = {k: v["provenance"] for k, v in m["metrics"].items()}
    for name, b in m["target"]["budgets"].items():
        obj = b["objective"]
        limit = "no limit" if b["limit"] is None else _num(b["limit"], obj)
        head = "-" if b["headroom"] is None else _num(b["headroom"], obj)
        lines.append(f"| {name} | {limit} | {b['source']} | {_num(b['value'], obj)} | {prov[obj]} | {head} |")
    return "\n".join(lines)


def _figures(m: dict) -> str:
    out = []
    for obj, f in m["metrics"].items():
        how = f" - {f['method']}" if f.get("method") else ""
        out.append(f"- **{_FIGURE_NAMES[obj]}**: {_num(f['value'], obj)} - *{f['provenance']}*{how}")
    return "\n".join(out)


def _precision(m: dict) -> str:
    """The model's precision, and for int8 how it was quantized and how close it is to its fp32 twin."""
    f = int8_facts(m)
    if f is None:
        return "- Precision: **fp32** (float32 weights, input and output)."
    cal, a = f.calibration, f.agreement
    acc = f" Accuracy on those images: int8 {f.accuracy[0]:.4f} vs fp32 {f.accuracy[1]:.4f}." if f.accuracy else ""
    return (f"- Precision: **int8** ({f.quantizer}): weights {f.weights}; activations "
            f"{f.activations}. The input and output stay float32: {f.io}, so feed it exactly like "
            f"the fp32 model.\n"
            f"- Calibration: {cal.get('n')} images of the **{cal.get('split')}** split (`{cal.get('file')}`, "
            f"never test images).\n"
            f"- Agreement with its fp32 twin `{a.get('twin')}` on {a.get('n')} test images ({a.get('inputs')}): "
            f"top-1 {a['top1_agreement']:.1%} (floor {a['floor']:.0%}), max logit error "
            f"{a['max_abs_logit_error']:.3g} (largest fp32 logit {a['max_abs_fp32_logit']:.3g}).{acc}")


def _sparsity_words(c: dict) -> str:
    if c.get("granularity") == "structured":
        return "structured (channels and heads removed: a smaller dense network), prunable weights removed"
    return "global sparsity"


def render_readme(m: dict) -> str:
    """The bundle's README.md (Markdown)."""
    i, o, c, ev = m["input"], m["output"], m["candidate"], m["eval"]
    runtime = "ONNX Runtime" if m["format"] == "onnx" else "LiteRT (TensorFlow Lite)"
    extra = "onnx" if m["format"] == "onnx" else "tflite"
    notes = "".join(f"\n- {k}: {v}" for k, v in (i.get("notes") or {}).items())
    sparsity = "-" if c.get("global_sparsity") is None else f"{c['global_sparsity']:.1%}"
    return f"""# {c["id"]} for {m["target"]["name"]} ({m["format"]}, {m.get("precision", "fp32")})

Generated by edgeprune {m["versions"]["edgeprune"]} on {m["created"]}. Run it with {runtime}.

| File | What |
|---|---|
| `{m["file"]}` | the model, sha256 `{m["sha256"]}`, {m["size_bytes"]} bytes |
| `manifest.json` | every figure below, machine-readable, plus sha256 of each file |
| `{EVAL_FILE}` | {ev["n"]} preprocessed test images (`x`, {ev["x_layout"]} float32) with labels (`y`) |
| `report.html` | Pareto plot, all candidates, per-layer sparsity |

## Budgets met

{_budget_table(m)}

## Model

- Candidate `{c["id"]}`: signal {c.get("signal") or "-"}, strategy {c.get("strategy")}, {_sparsity_words(c)} {sparsity}.
- Source: {m["source"]["model"]["name"]} ({m["source"]["model"]["num_classes"]} classes), dense weights sha256 `{m["source"]["checkpoint_sha256"]}`.
- Checked with {m["versions"]["runtime"]["name"]} {m["versions"]["runtime"]["version"]}.
{_precision(m)}

## Input

- Name `{i["name"]}`, shape {i["shape"]}, {i["dtype"]}, layout **{i["layout"]}**.
- Pixels scaled to {i["value_range"]}, then per channel `(x - mean) / std` with
  mean {i["mean"]} and std {i["std"]}.
- {i.get("preprocessing") or ""}{notes}

## Output

- Name `{o["name"]}`, shape {o["shape"]}: {o["meaning"]}.
- Labels (index order): {", ".join(f"{k}={lab}" for k, lab in enumerate(m["labels"]))}.

## Run it in Python

Needs `numpy` and `{"onnxruntime" if extra == "onnx" else "ai-edge-litert"}`. Run from this directory:

{_python(m)}

## Run it in C++

{_cpp(m)}

## Verify on the device

```sh
pip install "edgeprune[{extra}]"
edgeprune verify .
```

It checks the sha256 of every file in `manifest.json`, runs `{EVAL_FILE}` through {runtime}
(no PyTorch needed) and compares the accuracy with `eval.expected_accuracy` ({ev["expected_accuracy"]:.4f}):
exactly when the runtime name, version and CPU architecture match those used at ship time
({ev["runtime"]} {ev["runtime_version"]}, {ev["machine"]}), otherwise within
{tolerance(ev["n"], False):.4f}. Exit code 0 means the bundle is intact and behaves as shipped, 1 means a mismatch.

## Measure it on the device

{render_device_bench(m["device_bench"]) if m.get("device_bench") else "No device command recorded."}

## Figures and how they were obtained

{_figures(m)}

*measured* = on the target device, or device-independent (file size, accuracy through the runtime);
*measured-on-host* = a real measurement on the build machine, not the device; *estimated* = scaled, see the method.
"""
