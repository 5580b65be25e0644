"""Configuration of a prune run (plain data, stored in run.json)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

GLOBAL_TARGETS = (0.70, 0.80, 0.90)  # Phase 1 baselines' global sparsities (spec)
SIGNALS = ("magnitude", "gradient", "product")
#: the Phase 3 signal of each granularity when none is given. Weights: product (|w * g|), the best signal in
#: benchmarks/quality.json. Channels: magnitude (group L2 norm): in benchmarks/structured.json Torch-Pruning's
#: Taylor (first-order, the channel analogue of product) lost to its magnitude at every band, and Mix-and-Match's
#: structured plans pruned by product lost to the same plans pruned by magnitude (RESULTS.md, "signal").
DEFAULT_SIGNALS = {"unstructured": ("product",), "structured": ("magnitude",)}
GRANULARITIES = ("unstructured", "structured", "both")


@dataclass
class PruneConfig:
    model: str = "resnet18"
    model_args: dict = field(default_factory=dict)
    checkpoint: str | None = None
    data: str = "digits"
    input_size: int | None = None
    signals: list[str] | None = None  # unstructured candidates' signals (default DEFAULT_SIGNALS)
    structured_signals: list[str] | None = None  # structured ones' (default: ``signals`` if given, else DEFAULT_SIGNALS)
    strategies: list[str] | None = None  # default: all ten
    seed: int = 0
    granularity: str = "unstructured"  # unstructured | structured (channels/heads removed) | both
    schedule: str = "oneshot"  # oneshot | iterative (same total fine-tuning epochs, split over the steps)
    steps: int = 3  # prune/fine-tune cycles of the iterative schedule
    calib_size: int = 256  # Phase 1 / gradient signals: training images only
    calib_batch: int = 64
    # fine-tuning (paper recipe: Adam, batch 128, early stopping patience 3 on validation)
    finetune_epochs: int = 12
    finetune_lr: float | None = None  # None: per-family paper value (see recipes.py)
    batch_size: int = 128
    patience: int = 3
    # dense training when no checkpoint is given
    dense_epochs: int = 30
    dense_lr: float | None = None
    # where it runs (not part of any cache key: see edgeprune/device.py and prune/executor.py)
    device: str = "auto"  # auto | cpu | cuda | mps: dense training, Phase 1, fine-tuning
    executor: str = "local"  # local | ray: where Phase 3 candidates are computed
    ray_address: str | None = None  # with executor="ray": an existing cluster; None starts a local Ray

    def __post_init__(self) -> None:
        given = list(self.signals) if self.signals else None
        self.signals = given or list(DEFAULT_SIGNALS["unstructured"])
        self.structured_signals = list(self.structured_signals or given or DEFAULT_SIGNALS["structured"])
        if self.strategies is not None:
            self.strategies = list(self.strategies)

    def to_json(self) -> dict:
        return asdict(self)
