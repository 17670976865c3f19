"""pimc's IR: SSA ops in dialects, symbolic-shape types, a text form, a verifier."""
from pimc.ir.builder import Builder, to_attr
from pimc.ir.core import Block, BlockArgument, Operation, OpResult, Region, Value
from pimc.ir.dialects.builtin import FuncOp, ModuleOp, ReturnOp
from pimc.ir.parser import parse, parse_file
from pimc.ir.printer import print_module, print_op
from pimc.ir.types import ELEMENT_TYPES, ElementType, FunctionType, TensorType, parse_tensor_type
from pimc.ir.verifier import verify



def clear_caches() -> None:
    """Forget memoised type/dim parses and shape-rule results (for cold-start measurements)."""
    from pimc.ir import opdef, parser, symbolic, types
    for fn in (symbolic.sym, symbolic.parse_dim, symbolic.dim_str, symbolic.dims_equal,
               symbolic._mul_cached, types.parse_tensor_type, parser._signature, parser._location):
        fn.cache_clear()
    opdef._infer_cache.clear()


__all__ = ["clear_caches", "Block", "BlockArgument", "Builder", "ELEMENT_TYPES", "ElementType", "FuncOp",
           "FunctionType", "ModuleOp", "OpResult", "Operation", "Region", "ReturnOp",
           "TensorType", "Value", "parse", "parse_file", "parse_tensor_type", "print_module",
           "print_op", "to_attr", "verify"]
