"""One seeding function for the pages, the notebooks, the tests and the pipeline.

Seeded runs are bit-identical on one machine with one thread count. Across machines, float32
kernels may round differently (another CPU's vector instructions, another BLAS), so the last
digits of trained weights and the numbers computed from them can differ.

Examples:
    >>> import torch
    >>> seed_everything(0); a = torch.randn(3)
    >>> seed_everything(0); b = torch.randn(3)
    >>> torch.equal(a, b)
    True
"""

from __future__ import annotations

import random


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (every device) with ``seed``."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
