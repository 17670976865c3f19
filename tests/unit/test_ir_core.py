"""The IR core (use lists, the op linked list, walk order) and Builder result-type inference.

Result types are compared with hand-computed shapes, never with what pimc printed before.
"""
from __future__ import annotations

import pytest

from pimc.errors import PimcError, VerifyError
from pimc.ir import Block, Builder, FuncOp, ModuleOp, ReturnOp, TensorType, verify
from pimc.ir.attrs import SymAttr
from pimc.ir.symbolic import dims_equal, sym
from pimc.ir.types import ELEMENT_TYPES, f16, f32, i64

B, S, T = sym("B"), sym("S"), sym("T")


def t(*shape, elem=f16) -> TensorType:
    return TensorType(tuple(shape), elem)


def func_with_args(*types, results=()) -> tuple[ModuleOp, FuncOp, Builder]:
    module = ModuleOp()
    func = FuncOp.create("f", types, results)
    module.body.append(func)
    return module, func, Builder.at_end(func.body)


def check_links(block: Block) -> list:
    """The doubly linked list is consistent: forward == reversed(backward), ends, parents."""
    forward = list(block.ops)
    backward = list(block.reversed_ops())
    assert forward == backward[::-1]
    assert (block.first is None) == (block.last is None) == (not forward)
    if forward:
        assert block.first is forward[0] and block.first.prev is None
        assert block.last is forward[-1] and block.last.next is None
    for a, b in zip(forward, forward[1:]):
        assert a.next is b and b.prev is a
    assert all(op.parent is block for op in forward)
    assert len(block) == len(forward)
    return forward


# ---- use lists ----------------------------------------------------------------------------------

def test_uses_recorded_on_construction():
    _, func, b = func_with_args(t(4), t(4))
    x, y = func.args
    add = b.create("llm.add", [x, y])
    mul = b.create("llm.mul", [add.result, add.result])
    assert x.uses == [(add, 0)] and y.uses == [(add, 1)]
    assert add.result.uses == [(mul, 0), (mul, 1)]
    assert mul.result.uses == []
    assert add.result.owner is add and x.owner is func.body


def test_set_operand_moves_the_use():
    _, func, b = func_with_args(t(4), t(4))
    x, y = func.args
    neg = b.create("llm.neg", [x])
    neg.set_operand(0, y)
    assert neg.operands == [y]
    assert x.uses == [] and y.uses == [(neg, 0)]


def test_replace_all_uses_with():
    _, func, b = func_with_args(t(4), t(4))
    x, y = func.args
    a = b.create("llm.neg", [x])
    c = b.create("llm.add", [x, a.result])
    d = b.create("llm.mul", [x, x])
    x.replace_all_uses_with(y)
    assert x.uses == []
    assert a.operands == [y] and c.operands[0] is y and d.operands == [y, y]
    assert sorted((id(op), i) for op, i in y.uses) == sorted(
        [(id(a), 0), (id(c), 0), (id(d), 0), (id(d), 1)])
    y.replace_all_uses_with(y)  # a no-op, not a doubling of the use list
    assert len(y.uses) == 4


def test_erase_refuses_while_results_are_used():
    _, func, b = func_with_args(t(4))
    x, = func.args
    a = b.create("llm.neg", [x])
    c = b.create("llm.exp", [a.result])
    with pytest.raises(ValueError, match="still has 1 use"):
        a.erase()
    # nothing changed
    assert check_links(func.body) == [a, c]
    assert x.uses == [(a, 0)] and a.result.uses == [(c, 0)]
    c.erase()
    assert a.result.uses == []
    a.erase()
    assert x.uses == [] and check_links(func.body) == []
    assert a.parent is None


def test_replace_with_values_then_erase():
    _, func, b = func_with_args(t(4))
    x, = func.args
    a = b.create("llm.neg", [x])
    c = b.create("llm.exp", [a.result])
    a.replace_with_values([x])
    assert c.operands == [x] and x.uses == [(c, 0)]
    assert check_links(func.body) == [c]


def test_detach_and_insert_before_keep_the_list_consistent():
    _, func, b = func_with_args(t(4))
    x, = func.args
    ops = [b.create("llm.neg", [x]) for _ in range(4)]
    body = func.body
    assert check_links(body) == ops
    ops[0].detach()  # head
    assert check_links(body) == ops[1:]
    ops[3].detach()  # tail
    assert check_links(body) == ops[1:3]
    body.insert_before(ops[3], ops[1])  # new head
    assert check_links(body) == [ops[3], ops[1], ops[2]]
    body.insert_before(ops[0], ops[2])  # middle
    assert check_links(body) == [ops[3], ops[1], ops[0], ops[2]]
    ops[1].detach()  # middle
    assert check_links(body) == [ops[3], ops[0], ops[2]]
    assert ops[1].parent is ops[1].prev is ops[1].next is None
    assert x.uses.count((ops[1], 0)) == 1  # detaching keeps operand uses
    for op in [ops[3], ops[0], ops[2]]:
        op.detach()
    assert check_links(body) == []
    body.append(ops[2])
    assert check_links(body) == [ops[2]]


def test_erasing_while_iterating_is_safe():
    _, func, b = func_with_args(t(4))
    x, = func.args
    ops = [b.create("llm.neg", [x]) for _ in range(5)]
    for op in func.body.ops:
        if ops.index(op) % 2 == 0:
            op.erase()
    assert check_links(func.body) == [ops[1], ops[3]]


def test_builder_before_op_inserts_in_place():
    _, func, b = func_with_args(t(4))
    x, = func.args
    first = b.create("llm.neg", [x])
    last = b.create("llm.exp", [x])
    mid = Builder.before_op(last).create("llm.sqrt", [x])
    assert check_links(func.body) == [first, mid, last]


def test_walk_is_preorder_in_program_order():
    module = ModuleOp()
    f = FuncOp.create("f", [t(4)], [t(4)])
    g = FuncOp.create("g", [t(4)], [])
    module.body.append(f)
    module.body.append(g)
    bf, bg = Builder.at_end(f.body), Builder.at_end(g.body)
    a = bf.create("llm.neg", [f.args[0]])
    c = bf.create("llm.exp", [a.result])
    rf = bf.insert(ReturnOp([c.result]))
    d = bg.create("llm.sqrt", [g.args[0]])
    rg = bg.insert(ReturnOp([]))
    assert list(module.walk()) == [module, f, a, c, rf, g, d, rg]
    assert rf.parent_op() is f and f.parent_op() is module and module.parent_op() is None
    verify(module)


# ---- Builder result-type inference --------------------------------------------------------------

def infer(name, *operand_types, **attrs):
    """The result types the Builder infers for one op on fresh function arguments."""
    _, func, b = func_with_args(*operand_types)
    op = b.create(name, func.args, attrs)
    return tuple(r.type for r in op.results)


@pytest.mark.parametrize("a, bt, attrs, expected", [
    (t(B, 1, 4096), t(4096, 11008), {}, t(B, 1, 11008)),                     # GEMV-like decode
    (t(B, 1, 4096), t(11008, 4096), {"transpose_b": True}, t(B, 1, 11008)),  # w stored [out, in]
    (t(64, 128), t(128, 32), {}, t(64, 32)),
    (t(128, 64), t(128, 32), {"transpose_a": True}, t(64, 32)),
    (t(B, 8, T, 64), t(B, 8, S, 64), {"transpose_b": True}, t(B, 8, T, S)),   # q k^T
    (t(B, 1, T, 64), t(1, 8, 64, S), {}, t(B, 8, T, S)),                      # batch broadcast
    (t(B * T, 256), t(256, 512), {}, t(B * T, 512)),
])
def test_matmul_inference(a, bt, attrs, expected):
    assert infer("llm.matmul", a, bt, **attrs) == (expected,)


def test_linear_inference():
    assert infer("llm.linear", t(B, T, 256), t(512, 256)) == (t(B, T, 512),)
    assert infer("llm.linear", t(B, T, 256), t(512, 256), t(512)) == (t(B, T, 512),)
    assert infer("llm.linear", t(256), t(10, 256)) == (t(10),)


@pytest.mark.parametrize("q, k, v, expected", [
    (t(B, 8, T, 32), t(B, 8, S, 32), t(B, 8, S, 32), t(B, 8, T, 32)),    # MHA
    (t(B, 32, 1, 128), t(B, 8, S, 128), t(B, 8, S, 128), t(B, 32, 1, 128)),  # GQA, 4 groups
    (t(B, 8, T, 32), t(B, 1, S, 32), t(B, 1, S, 32), t(B, 8, T, 32)),    # MQA
    (t(B, 8, T, 32), t(B, 2, S, 32), t(B, 2, S, 64), t(B, 8, T, 64)),    # Dv != D
])
def test_attention_inference(q, k, v, expected):
    assert infer("llm.attention", q, k, v) == (expected,)
    assert infer("llm.attention", q, k, v, causal=True, scale=0.125) == (expected,)


def test_attention_groups_property():
    _, func, b = func_with_args(t(B, 32, 1, 128), t(B, 8, S, 128), t(B, 8, S, 128))
    op = b.create("llm.attention", func.args)
    assert op.groups == 4


def test_attention_with_mask():
    mask = t(1, 1, T, S)
    assert infer("llm.attention", t(B, 8, T, 32), t(B, 2, S, 32), t(B, 2, S, 32), mask) == (
        t(B, 8, T, 32),)


def test_concat_symbolic_sum():
    cache, new = t(B, 2, S, 32), t(B, 2, 1, 32)
    (result,) = infer("llm.concat", cache, new, axis=2)
    assert result.shape[:2] == (B, 2) and result.shape[3] == 32
    assert dims_equal(result.shape[2], S + 1)
    assert str(result) == "tensor<Bx2x(S+1)x32xf16>"
    (r3,) = infer("llm.concat", t(B, 4), t(B, S), t(B, T), axis=-1)
    assert dims_equal(r3.shape[1], S + T + 4)
    assert infer("llm.concat", t(2, 3), t(5, 3), axis=0) == (t(7, 3),)


@pytest.mark.parametrize("size, start, end, step", [
    (64, 0, 32, 1), (64, 32, 64, 1), (64, 0, 64, 2), (64, 1, 64, 2), (7, 0, 7, 3), (7, 2, 2, 1),
    (10, 3, 10, 4),
])
def test_slice_static(size, start, end, step):
    expected = len(range(start, end, step))
    assert infer("llm.slice", t(B, size), axis=1, start=start, end=end, step=step) == (
        t(B, expected),)


def test_slice_symbolic():
    (r,) = infer("llm.slice", t(B, S, 8), axis=1, start=0, end=SymAttr(S))
    assert r == t(B, S, 8)
    (r,) = infer("llm.slice", t(B, S, 8), axis=1, start=1, end=SymAttr(S))
    assert dims_equal(r.shape[1], S - 1)
    (r,) = infer("llm.slice", t(B, S + 1, 8), axis=-2, start=0, end=SymAttr(S + 1), step=1)
    assert dims_equal(r.shape[1], S + 1)


def test_topk_two_results():
    values, indices = infer("llm.topk", t(B, 1000), k=5)
    assert values == t(B, 5) and indices == t(B, 5, elem=i64)
    values, indices = infer("llm.topk", t(B, 16, 1000, elem=f32), k=2, axis=1)
    assert values == t(B, 2, 1000, elem=f32) and indices == t(B, 2, 1000, elem=i64)


def test_other_inference_rules():
    assert infer("llm.transpose", t(B, T, 8, 32), perm=[0, 2, 1, 3]) == (t(B, 8, T, 32),)
    assert infer("llm.reduce_mean", t(B, T, 256), axes=[-1], keepdim=True) == (t(B, T, 1),)
    assert infer("llm.reduce_sum", t(B, T, 256), axes=[0, 2]) == (t(T),)
    assert infer("llm.add", t(B, T, 256), t(256)) == (t(B, T, 256),)
    assert infer("llm.mul", t(B, 1, T, 1), t(8, 1, S)) == (t(B, 8, T, S),)
    ids = t(B, T, elem=ELEMENT_TYPES["i64"])
    assert infer("llm.embedding", ids, t(1000, 256)) == (t(B, T, 256),)
    assert infer("llm.rmsnorm", t(B, T, 256), t(256)) == (t(B, T, 256),)


@pytest.mark.parametrize("name, types, attrs, message", [
    ("llm.matmul", (t(B, 4), t(5, 8)), {}, "contraction"),
    ("llm.matmul", (t(B, 4), t(4, 8, elem=f32)), {}, "element type"),
    ("llm.matmul", (t(4), t(4, 8)), {}, "rank"),
    ("llm.linear", (t(B, 4), t(8, 5)), {}, "input dim"),
    ("llm.attention", (t(B, 8, T), t(B, 2, S, 32), t(B, 2, S, 32)), {}, "rank 4"),
    ("llm.attention", (t(B, 8, T, 32), t(B, 3, S, 32), t(B, 3, S, 32)), {}, "multiple"),
    ("llm.attention", (t(B, 8, T, 32), t(B, 2, S, 16), t(B, 2, S, 32)), {}, "head dim"),
    ("llm.concat", (t(B, 4), t(S, 4)), {"axis": 1}, "does not match"),
    ("llm.slice", (t(B, 8),), {"axis": 1, "start": 4, "end": 9}, "outside"),
    ("llm.slice", (t(B, 8),), {"axis": 2, "start": 0, "end": 1}, "out of range"),
    ("llm.topk", (t(B, 4),), {"k": 5}, "'k'"),
    ("llm.transpose", (t(B, 4),), {"perm": [0, 0]}, "permutation"),
    ("llm.add", (t(B, 4), t(B, 5)), {}, "broadcast"),
    ("llm.matmul", (t(B, 4), t(4, 8)), {"bogus": 1}, "unknown attribute 'bogus'"),
    ("llm.topk", (t(B, 4),), {}, "requires attribute 'k'"),
    # rank-0 operands and empty heads once crashed the shape rules with IndexError/ZeroDivision
    ("llm.slice", (t(),), {"axis": 0, "start": 0, "end": 1}, "rank >= 1"),
    ("llm.topk", (t(),), {"k": 1, "axis": 0}, "rank >= 1"),
    ("llm.concat", (t(), t()), {"axis": 0}, "rank >= 1"),
    ("llm.attention", (t(B, 4, T, 8), t(B, 0, S, 8), t(B, 0, S, 8)), {}, "at least one kv head"),
    ("llm.rmsnorm", (t(B, 4), t(4)), {"eps": 10 ** 400}, "'eps' must be a float"),
])
def test_builder_rejects_bad_operands(name, types, attrs, message):
    _, func, b = func_with_args(*types)
    with pytest.raises(VerifyError, match=message) as info:
        b.create(name, func.args, attrs)
    assert isinstance(info.value, PimcError)
    assert name in str(info.value)
    assert list(func.body.ops) == []  # nothing half-built was inserted


def test_builder_needs_result_type_without_shape_rule():
    _, func, b = func_with_args(t(B, 4))
    with pytest.raises(VerifyError, match="result_type"):
        b.op("llm.reshape", func.args[0])
    r = b.op("llm.reshape", func.args[0], result_type=t(B * 4))
    assert r.type == t(B * 4)


def test_unknown_op_name_is_a_pimc_error():
    _, func, b = func_with_args(t(4))
    with pytest.raises(PimcError, match="did you mean 'llm.matmul'"):
        b.create("llm.matmull", func.args)
