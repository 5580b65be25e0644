"""The profile schema: one frozen dataclass per TOML table, each field with its check."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..precision import ArtifactKey

SCHEMA_VERSION = 1
FORMATS = ("onnx", "tflite")
RUNTIMES = ("onnxruntime", "ai-edge-litert", "tflite-runtime", "tensorrt")
FAMILIES = ("raspberry-pi", "jetson", "other")


# ---------------------------------------------------------------- checks
def _check(pred: Callable[[Any], bool], expected: str) -> dict:
    return {"check": (pred, expected)}


POSITIVE = _check(lambda v: v > 0, "a number > 0")
FRACTION = _check(lambda v: 0 <= v <= 1, "a fraction in [0, 1]")
BAND = _check(lambda v: 0 < v < 1, "a relative error band in (0, 1), e.g. 0.4 for +-40%")
SLUG = _check(lambda v: v and all(c.isalnum() or c == "-" for c in v) and v == v.lower(),
              "a lower-case name of letters, digits and '-'")


def one_of(*choices: str) -> dict:
    return _check(lambda v: v in choices, "one of " + ", ".join(choices))


def each(pred_meta: dict) -> dict:
    pred, expected = pred_meta["check"]
    return _check(lambda vs: len(vs) > 0 and all(pred(v) for v in vs), f"a non-empty list of {expected}")


NONEMPTY = _check(lambda v: len(v) > 0, "a non-empty list")


# ---------------------------------------------------------------- schema
@dataclass(frozen=True)
class Hardware:
    """What the board is. Numbers come from the ``source``."""

    cpu: str
    cpu_arch: str = field(metadata=one_of("aarch64", "armv7l", "x86_64"))
    cpu_cores: int = field(metadata=POSITIVE)
    cpu_clock_ghz: float = field(metadata=POSITIVE)
    accelerator: str
    ram_gb: tuple[float, ...] = field(metadata=each(POSITIVE))
    storage: str
    source: str
    ram_bandwidth_gbs: float | None = field(default=None, metadata=POSITIVE)
    notes: str = ""

    @property
    def min_ram_mb(self) -> float:
        return min(self.ram_gb) * 1000


@dataclass(frozen=True)
class Software:
    """What runs on the board's usual OS (for the device install and the ship bundle)."""

    os: str
    python: str
    onnxruntime: str
    ai_edge_litert: str
    tflite_runtime: str
    gpu_stack: str
    source: str


@dataclass(frozen=True)
class RuntimeChoice:
    """The runtime a format runs in on this device, and with how many threads."""

    runtime: str = field(metadata=one_of(*RUNTIMES))
    threads: int = field(metadata=POSITIVE)
    notes: str = ""


@dataclass(frozen=True)
class Budgets:
    """Default selection budgets; ``edgeprune select --max-...`` overrides them."""

    max_size_mb: float = field(metadata=POSITIVE)
    max_ram_mb: float = field(metadata=POSITIVE)
    max_latency_ms: float = field(metadata=POSITIVE)
    min_accuracy: float = field(metadata=FRACTION)
    source: str

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("max_size_mb", "max_ram_mb", "max_latency_ms", "min_accuracy")}


@dataclass(frozen=True)
class Calibration:
    """A published latency of a reference model on this device.

    Off the device, an artifact's latency is estimated as its host latency x
    ``device_reference_ms`` / (host latency of the same reference model, same
    runtime and threads). The first calibration of a format is the primary
    one; further ones are cross-checks whose disagreement widens the band.
    """

    format: str = field(metadata=one_of(*FORMATS))
    model: str  # timm name of the reference network (random weights; latency does not need trained ones)
    input_size: int = field(metadata=POSITIVE)
    runtime: str  # the runtime of the *published* figure, as published
    published_latency_ms: float = field(metadata=POSITIVE)
    source: str
    error_band: float = field(metadata=BAND)
    num_classes: int = field(default=1000, metadata=POSITIVE)
    threads: int | None = field(default=None, metadata=POSITIVE)  # None: not stated by the source
    runtime_factor: float = field(default=1.0, metadata=POSITIVE)  # device runtime / published runtime
    runtime_factor_source: str = ""
    notes: str = ""
    # precision of the published figure and of the host reference built for it: int8 artifacts are
    # estimated through int8 references where a profile has them (see edgeprune.bench.estimate)
    precision: str = field(default="fp32", metadata=one_of("fp32", "int8"))

    @property
    def kind(self) -> str:
        """What it calibrates: the format, with ``.int8`` for int8 references (``tflite.int8``)."""
        return ArtifactKey(self.model, self.format, self.precision).kind

    @property
    def device_reference_ms(self) -> float:
        """Expected latency of the reference in *this format's* runtime on the device."""
        return self.published_latency_ms * self.runtime_factor

    def describe(self) -> str:
        thr = f"{self.threads} threads" if self.threads else "threads not stated"
        s = f"{self.model}@{self.input_size} {self.runtime}, {thr}: {self.published_latency_ms:g} ms"
        if self.runtime_factor != 1.0:
            s += f" x {self.runtime_factor:g} = {self.device_reference_ms:.4g} ms"
        return s


@dataclass(frozen=True)
class Detect:
    """How ``edgeprune bench`` recognises that it runs on this device."""

    model: tuple[str, ...] = field(default=(), metadata=NONEMPTY)  # substrings of /proc/device-tree/model


@dataclass(frozen=True)
class Target:
    """A validated device profile."""

    schema: int = field(metadata=_check(lambda v: v == SCHEMA_VERSION, f"{SCHEMA_VERSION} (the schema this edgeprune reads)"))
    name: str = field(metadata=SLUG)
    title: str
    family: str = field(metadata=one_of(*FAMILIES))
    preferred_format: str = field(metadata=one_of(*FORMATS))
    hardware: Hardware
    runtimes: dict[str, RuntimeChoice] = field(metadata={"keys": FORMATS})
    budgets: Budgets
    calibration: tuple[Calibration, ...] = ()
    software: Software | None = None
    detect: Detect | None = None
    description: str = ""
    path: Path | None = field(default=None, metadata={"internal": True})

    def calibrations(self, fmt: str, precision: str = "fp32") -> list[Calibration]:
        """Calibrations for ``fmt`` at ``precision``: the primary first, then cross-checks.

        ``fmt`` may also be a kind (``tflite.int8``, see :attr:`Calibration.kind`)."""
        if "." in fmt:
            fmt, precision = fmt.split(".", 1)
        return [c for c in self.calibration if c.format == fmt and c.precision == precision]

    def threads(self, fmt: str) -> int:
        rc = self.runtimes.get(fmt)
        return rc.threads if rc else self.hardware.cpu_cores

    def to_json(self) -> dict:
        """A compact record of the profile for bench/selection files."""
        return {"name": self.name, "title": self.title, "path": str(self.path) if self.path else None,
                "preferred_format": self.preferred_format,
                "runtimes": {f: {"runtime": r.runtime, "threads": r.threads} for f, r in self.runtimes.items()},
                "budgets": self.budgets.as_dict()}
