"""edgeprune: Mix-and-Match pruning to sparse ONNX/TFLite, benchmarked and shipped for edge devices.

Stages (one sub-package each, plain JSON files between them, see docs/run-directory.md):
``prune`` -> ``export`` -> ``bench`` -> ``select`` -> ``ship``; ``build`` runs them all.
Importing this package does not import torch (the device-side bench must not need it).
"""
__version__ = "0.1.0"
