"""Figures written the way every audiocl output is: headless, atomically, and closed afterwards.

matplotlib is imported only when a figure is made, so ``import audiocl`` stays light, and with the
``Agg`` backend, so plotting works on a cluster node without a display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audiocl.utils.io import atomic_path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the headless ``Agg`` backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (never half a file) and release its memory."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        pyplot().close(fig)
    return path
