"""audiocl: contrastive self-supervised learning for speech, general audio and time series.

The package is layered (see ``../shared/ARCHITECTURE.md``):
data -> features -> nn -> losses -> models -> tasks -> hub / metrics, with ``cli`` on top.
"""

__version__ = "0.1.0"
