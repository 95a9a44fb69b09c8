"""The hardware popcount both bit-packed kernels (genome IBS/KING, molecule Tanimoto) build on."""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic


@intrinsic
def popcount64(typingctx, x):
    """Number of set bits of a uint64: LLVM ``ctpop``, a hardware popcount where the CPU has one
    and vectorised in loops (``vpopcntq`` on AVX-512, a nibble lookup on AVX2)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen
