"""Verifier errors that no text can reach (the parser builds well-formed structure), triggered
by building broken IR directly, as a buggy pass would."""
import pytest

from pimc.errors import VerifyError
from pimc.ir import Block, Builder, FuncOp, ModuleOp, Region, ReturnOp, TensorType, verify
from pimc.ir.attrs import ArrayAttr, DictAttr, IntAttr, TypeAttr
from pimc.ir.symbolic import sym
from pimc.ir.types import f32
from pimc.ir.verifier import verify_op_signature
from pimc.ir.opdef import OpInvalid

T4 = TensorType((4,), f32)
TB = TensorType((sym("B"), 8), f32)


def _module_with(func: FuncOp) -> ModuleOp:
    m = ModuleOp()
    m.body.append(func)
    return m


def _identity(name="f", t=T4) -> FuncOp:
    func = FuncOp.create(name, [t], [t], ["x"])
    func.body.append(ReturnOp([func.args[0]]))
    return func


def test_top_level_must_be_a_module():
    with pytest.raises(VerifyError, match="expected a builtin.module at the top, found 'func.func'"):
        verify(_identity())


def test_only_functions_at_module_level():
    m = ModuleOp()
    Builder.at_end(m.body).op("llm.constant", result_type=T4, value=1.0)
    with pytest.raises(VerifyError, match="'llm.constant' op is not allowed at module level"):
        verify(m)


def test_use_before_definition_is_caught():
    func = FuncOp.create("f", [T4], [T4], ["x"])
    b = Builder.at_end(func.body)
    late = b.op("llm.neg", func.args[0], name_hint="late")
    early = Builder.before_op(late.op).op("llm.exp", late, name_hint="early")
    func.body.append(ReturnOp([early]))
    with pytest.raises(VerifyError, match=r"'llm.exp' op operand #0 is not defined before"):
        verify(_module_with(func))


def test_function_inside_a_function():
    outer = FuncOp.create("outer", [T4], [T4], ["x"])
    outer.body.append(_identity("inner"))
    outer.body.append(ReturnOp([outer.args[0]]))
    with pytest.raises(VerifyError, match="'func.func' op cannot be nested inside a function"):
        verify(_module_with(outer))


def test_function_with_two_blocks():
    func = _identity()
    func.regions[0].add_block(Block())
    with pytest.raises(VerifyError, match="'func.func' op must have one region with one block"):
        verify(_module_with(func))


def test_module_with_two_blocks():
    m = ModuleOp()
    m.regions[0].add_block(Block())
    with pytest.raises(VerifyError, match="'builtin.module' op must have one region with one block"):
        verify(m)


def test_function_type_must_be_a_function_type():
    func = _identity()
    func.attributes["function_type"] = TypeAttr(TB)
    with pytest.raises(VerifyError, match=r"'function_type' must be a function type, found tensor<Bx8xf32>"):
        verify(_module_with(func))


def test_block_arguments_must_match_the_function_type():
    func = _identity()
    func.body.args[0].type = TB
    func.body.last.operands[0].type = TB
    with pytest.raises(VerifyError, match=r"argument types \(tensor<Bx8xf32>\) differ from the function type \(tensor<4xf32>\) -> tensor<4xf32>"):
        verify(_module_with(func))


def test_arg_attrs_must_be_one_dictionary_per_argument():
    func = _identity()
    func.attributes["arg_attrs"] = ArrayAttr((DictAttr.of({}), DictAttr.of({})))
    with pytest.raises(VerifyError, match="'arg_attrs' must be an array of 1 dictionaries"):
        verify(_module_with(func))
    func = _identity()
    func.attributes["arg_attrs"] = ArrayAttr((IntAttr(3),))
    with pytest.raises(VerifyError, match="'arg_attrs' must be an array of 1 dictionaries"):
        verify(_module_with(func))


def test_return_outside_a_function():
    m = ModuleOp()
    ret = m.body.append(ReturnOp([]))
    with pytest.raises(OpInvalid, match="must be directly inside a func.func"):
        verify_op_signature(ret)


def test_a_good_function_verifies():
    verify(_module_with(_identity()))  # the fixtures above are broken only where they say


def test_region_on_an_op_without_regions():
    func = FuncOp.create("f", [T4], [T4], ["x"])
    op = Builder.at_end(func.body).create("llm.neg", [func.args[0]])
    op.add_region(Region([Block()]))
    func.body.append(ReturnOp([op.results[0]]))
    with pytest.raises(VerifyError, match="'llm.neg' op"):
        verify(_module_with(func))
