"""How the tests compare floating-point tensors.

Float32 kernels round differently on different CPUs (AVX-512 against AVX2, another thread
count, another BLAS), so a bound that holds on one machine can fail on another: outputs of
size about 6 differed by 1.14e-5 between two 2-core machines. Equivalence is therefore
checked relative to the size of the values: ``|actual - expected| <= atol + rtol * |expected|``
elementwise, with ``atol`` scaled by the largest expected value (float32 has about 7 significant
digits; two differently ordered sums of a few hundred terms agree to about 1e-6 relative).
"""

from __future__ import annotations

import torch

RTOL = 1e-5
"""Relative tolerance for two float32 computations of the same function."""


def assert_same_function(actual: torch.Tensor, expected: torch.Tensor, rtol: float = RTOL) -> None:
    """Assert two float32 results agree to ``rtol``, relative to the values' own scale."""
    actual, expected = actual.detach(), torch.as_tensor(expected).detach().to(actual.dtype)
    scale = expected.abs().max().clamp_min(1.0).item()
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * scale)
