"""Bit-packed vectors: packing 0/1 matrices into uint64 words, and the hardware popcount both
bit-packed kernel families (genome IBS/KING, molecule Tanimoto) build on."""

from __future__ import annotations

import numpy as np
from llvmlite import binding, ir
from numba import types
from numba.extending import intrinsic


def _has_vector_popcount() -> bool:
    try:
        return bool(binding.get_host_cpu_features().get("avx512vpopcntdq", False))
    except RuntimeError:  # LLVM cannot read this host's features: assume the common case
        return False


VECTOR_POPCOUNT = _has_vector_popcount()
"""Whether this CPU counts the bits of vector lanes in one instruction (AVX-512 VPOPCNTDQ:
``vpopcntq``, 8 words at a time). Elsewhere LLVM's vector popcount is a nibble lookup of about
seven instructions, so kernels that trade popcounts for other work weigh differently."""


@intrinsic
def popcount64(typingctx, x):
    """Number of set bits of a uint64: LLVM ``ctpop``, a hardware popcount where the CPU has one
    and vectorised in loops (``vpopcntq`` on AVX-512, a nibble lookup on AVX2)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a 0/1 matrix (n, n_bits) into uint64 words (n, ceil(n_bits / 64)).

    Bit ``b`` goes to bit ``b % 64`` of word ``b // 64``.

    Examples
    --------
    >>> pack_bits(np.array([[1, 0, 1]])).tolist()
    [[5]]
    """
    bits = np.asarray(bits)
    n, n_bits = bits.shape
    words = (n_bits + 63) // 64
    padded = np.zeros((n, words * 64), np.uint8)
    padded[:, :n_bits] = bits != 0
    packed = np.packbits(padded, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack_bits(packed: np.ndarray, n_bits: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: a uint8 0/1 matrix (n, n_bits)."""
    raw = np.ascontiguousarray(packed, dtype="<u8").view(np.uint8)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :n_bits]


_WIDE_VECTORS = '"prefer-vector-width"="512"'


@intrinsic
def prefer_wide_vectors(typingctx):
    """Mark the calling kernel ``"prefer-vector-width"="512"`` (an LLVM function attribute).

    LLVM's tuning for many AVX-512 cores (this project's Xeon among them) vectorises with 256-bit
    registers by default; the popcount loops run faster on 512-bit ones (``vpopcntq zmm``,
    8 words per instruction). The attribute is only a preference: where the CPU has no 512-bit
    vectors LLVM keeps the widest it has. Call it once at the top of an ``@njit`` function.
    """
    sig = types.none()

    def codegen(context, builder, signature, args):
        # llvmlite only names LLVM's enum attributes; a string attribute goes in verbatim
        set.add(builder.function.attributes, _WIDE_VECTORS)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def trailing_zeros64(typingctx, x):
    """Index of the lowest set bit of a uint64 (LLVM ``cttz``: ``tzcnt`` on x86-64); 64 for 0."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

    return sig, codegen
