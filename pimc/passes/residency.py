"""Which operands move between devices, and which results stay in the HBM every device reads:
the residency rules `place-devices` chooses by and `analysis/timing` times by, in one place."""
from __future__ import annotations

from pimc.ir.core import BlockArgument, Operation, OpResult, Value


def is_padding_mask(t) -> bool:
    """A boolean mask that varies only along the batch and the keys ([B, 1, 1, S]): which keys
    each request has, i.e. its context length, not data an attention reads per score."""
    from pimc.ir.types import TensorType, i1
    return isinstance(t, TensorType) and t.element == i1 and t.rank == 4 and \
        t.shape[1] == 1 and t.shape[2] == 1


def transferred_operands(op: Operation) -> list[Value]:
    """The operands whose data an op's device must receive. An llm.attention's padding mask is
    not among them: it says how many keys each request has, which the scheduler holds before
    the step starts, and PIM attention reads each request's own keys by that length (NeuPIMs
    and AttAcc give the PIM per-request context lengths, no mask tensor); HF capture's mask is
    the attention_mask argument reshaped, so sending it would charge a launch for metadata."""
    if op.name == "llm.attention" and len(op.operands) > 3 and is_padding_mask(op.operands[3].type):
        return list(op.operands[:3])
    return list(op.operands)


def is_cache_append(op: Operation) -> bool:
    """A concat onto a past KV cache (a function argument, maybe through views or kv-compress's
    dequantisation of its stored codes) writes the new rows in place in DRAM, as
    analyze-intensity counts it: the grown cache stays resident. So does kv.quantize of such an
    append: KIVI's streaming form quantises the new token into the stored cache (op_costs)."""
    from pimc.passes.analyze_intensity import VIEWS  # it costs ops by op_costs, which imports this
    if op.name == "kv.quantize":
        grown = op.operands[0]
        return isinstance(grown, OpResult) and is_cache_append(grown.op)
    if op.name != "llm.concat" or len(op.operands) < 2:
        return False
    past = op.operands[0]
    while isinstance(past, OpResult) and (past.op.name in VIEWS or past.op.name == "kv.dequantize"):
        past = past.op.operands[0]
    return isinstance(past, BlockArgument)
