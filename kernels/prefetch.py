"""A software prefetch for kernels that read a few bytes of each of many long rows.

A kernel reading one narrow column range of a ``.bed`` (the 50 bytes of 200 samples in each
550-byte variant row, say) touches one or two cache lines per row, a row apart. The hardware
prefetchers did not follow that stride, so each row waited for memory: counting the 200 new
samples of a 2,200-sample ``.bed`` over 100,000 variants took 16.6 ms, about as long as reading
every byte of every row (18.7 ms). Asking for the row :data:`ROWS_AHEAD` rows ahead overlaps
those waits: 3.1 ms (``python bench/bed_versus.py --rev 07cac7c``; ``bench/README.md``).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

ROWS_AHEAD = 16
"""How many rows ahead of the one being read a row kernel asks for its bytes: far enough that a
row's memory access is hidden behind the work on the rows between."""

CACHE_LINE = 64
"""Bytes one prefetch brings in."""

_I32 = ir.IntType(32)


@intrinsic
def prefetch(typingctx, array, index):
    """Ask for the cache line of element ``index`` of ``array`` (counted from its first element
    in memory, as in a C-contiguous array's flat view), to be read soon.

    LLVM's ``llvm.prefetch`` (read, keep in all cache levels): a hint that never faults, so an
    index past the array's end is harmless and needs no check.
    """
    sig = types.none(array, types.intp)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        pointer = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [pointer.type, _I32, _I32, _I32]),
            "llvm.prefetch.p0")
        builder.call(function, [pointer, _I32(0), _I32(3), _I32(1)])
        return context.get_dummy_value()

    return sig, codegen
