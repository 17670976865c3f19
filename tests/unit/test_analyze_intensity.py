"""analyze-intensity: hand-checked flops, bytes and Op/B (architecture.md §5, issue 6).

Every expected figure is computed here from the model's shape, not read back from pimc.
"""
from __future__ import annotations

import itertools
import time

import pytest
import sympy

from pimc.errors import OptionError, PimcError, VerifyError
from pimc.frontend.synthetic import DecoderShape, decoder_module
from pimc.ir import parse, print_module, verify
from pimc.ir.attrs import ExprAttr, SymAttr
from pimc.ir.dialects import DIALECTS
from pimc.ir.real_expr import RealExprSyntaxError, parse_real, real_str
from pimc.ir.symbolic import sym
from pimc.passes import PassManager, parse_pipeline
from pimc.passes.analyze_intensity import evaluate, intensity_rows, op_cost
from pimc.passes.op_costs import RULES, expected_active_experts, routing_probabilities

B, S, T = sym("B"), sym("S"), sym("T")
D = 128  # head dim of every Llama-2/3 model


def analyzed(module, options: str = ""):
    PassManager(parse_pipeline(f"analyze-intensity{options}")).run(module)
    return module


def ops_named(module, func: str, name: str):
    return [op for op in module.func(func).walk() if op.name == name]


def attention_module(hq: int, hkv: int, dtype: str = "f16"):
    """One decode attention over a cache of S past tokens plus the new one (HF's layout)."""
    q, new, past = (f"tensor<Bx{hq}x1x{D}x{dtype}>", f"tensor<Bx{hkv}x1x{D}x{dtype}>",
                    f"tensor<Bx{hkv}xSx{D}x{dtype}>")
    kv = f"tensor<Bx{hkv}x(S+1)x{D}x{dtype}>"
    return parse(f"""
func.func @decode(%q: {q}, %kc: {past}, %vc: {past}, %kn: {new}, %vn: {new}) -> ({q}, {kv}, {kv}) {{
  %k = "llm.concat"(%kc, %kn) {{axis = 2}} : ({past}, {new}) -> {kv}
  %v = "llm.concat"(%vc, %vn) {{axis = 2}} : ({past}, {new}) -> {kv}
  %o = "llm.attention"(%q, %k, %v) : ({q}, {kv}, {kv}) -> {q}
  func.return %o, %k, %v : {q}, {kv}, {kv}
}}""")


def attention_op_b(hq: int, hkv: int, batch: int, context: int, kv_bytes: float = 2) -> float:
    """By hand: every query-key pair costs QK^T (2D) + PV (2D) + softmax (8) + scale (1) flops;
    K and V are read once per KV head; q is read and the output written at 2 bytes."""
    keys = context + 1
    flops = batch * hq * keys * (4 * D + 9)
    nbytes = 2 * batch * hkv * keys * D * kv_bytes + 2 * batch * hq * D * 2
    return flops / nbytes


@pytest.mark.parametrize("hq, hkv, band", [(32, 32, (0.95, 1.1)), (64, 8, (7.5, 8.5))],
                         ids=["mha", "gqa8"])
def test_decode_attention_op_b_is_about_the_group_size(hq, hkv, band):
    (att,) = ops_named(analyzed(attention_module(hq, hkv)), "decode", "llm.attention")
    got = evaluate(op_cost(att), {"B": 64, "S": 2048}).op_b
    assert got == pytest.approx(attention_op_b(hq, hkv, 64, 2048), rel=1e-12)
    assert band[0] < got < band[1]


def test_i8_kv_cache_doubles_decode_attention_op_b():
    f16 = analyzed(attention_module(32, 32))
    i8 = analyzed(attention_module(32, 32), "{kv-dtype=i8}")
    at = {"B": 16, "S": 4096}
    (a16,), (a8,) = (ops_named(m, "decode", "llm.attention") for m in (f16, i8))
    op_b16, op_b8 = (evaluate(op_cost(a), at).op_b for a in (a16, a8))
    assert op_b8 == pytest.approx(attention_op_b(32, 32, 16, 4096, kv_bytes=1), rel=1e-12)
    assert op_b8 / op_b16 == pytest.approx(2, rel=0.01)
    # appending the new token writes one row per KV head, at the KV dtype: 1 byte read + 1 written
    append = ops_named(i8, "decode", "llm.concat")[0]
    assert evaluate(op_cost(append), at).bytes == 2 * 16 * 32 * D


def llama2_7b_params_without_embedding(d=4096, f=11008, layers=32, vocab=32000) -> int:
    """Llama-2-7B's weights that multiply activations: per layer q/k/v/o (MHA, 4·d²), the gated
    MLP (3·d·f) and two norms; the final norm and lm_head. The token embedding is a lookup (no
    multiply-adds), so it is left out, as in Kaplan et al. 2020's 2·N flops per token."""
    return layers * (4 * d * d + 3 * d * f + 2 * d) + d + vocab * d


def total(module, func: str, bindings: dict) -> tuple[float, float]:
    rows = intensity_rows(module, func, bindings)
    return sum(r["flops"] for r in rows), sum(r["bytes"] for r in rows)


def test_llama2_7b_decode_flops_are_twice_the_parameters_synthetic():
    shape = DecoderShape(layers=32, hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000,
                         qkv_bias=False)
    flops, _ = total(analyzed(decoder_module(shape)), "decode", {"B": 1, "S": 1})
    params = llama2_7b_params_without_embedding()
    assert params == pytest.approx(6.74e9 - 32000 * 4096, rel=0.002)  # the published count
    assert flops / (2 * params) == pytest.approx(1, abs=0.02)


def test_llama2_7b_decode_flops_are_twice_the_parameters_captured():
    from pimc.frontend import zoo
    module, _ = zoo.capture("llama2-7b")
    flops, _ = total(analyzed(module, "{dtype=f16}"), "decode", {"B": 1, "S": 1})
    assert flops / (2 * llama2_7b_params_without_embedding()) == pytest.approx(1, abs=0.02)
    (att, *_) = ops_named(module, "decode", "llm.attention")  # raised: MHA at fp16, Op/B ≈ 1
    assert evaluate(op_cost(att), {"B": 64, "S": 2048}).op_b == pytest.approx(
        attention_op_b(32, 32, 64, 2048), rel=1e-12)


FFN = """
func.func @ffn(%x: tensor<Bx1x4096xf32>) -> tensor<Bx1x4096xf32> {
  %wg = "llm.weight"() {handle = #pimc.weight<"gate">} : () -> tensor<11008x4096xf32>
  %wu = "llm.weight"() {handle = #pimc.weight<"up">} : () -> tensor<11008x4096xf32>
  %wd = "llm.weight"() {handle = #pimc.weight<"down">} : () -> tensor<4096x11008xf32>
  %g = "llm.linear"(%x, %wg) : (tensor<Bx1x4096xf32>, tensor<11008x4096xf32>) -> tensor<Bx1x11008xf32>
  %u = "llm.linear"(%x, %wu) : (tensor<Bx1x4096xf32>, tensor<11008x4096xf32>) -> tensor<Bx1x11008xf32>
  %a = "llm.silu"(%g) : (tensor<Bx1x11008xf32>) -> tensor<Bx1x11008xf32>
  %h = "llm.mul"(%a, %u) : (tensor<Bx1x11008xf32>, tensor<Bx1x11008xf32>) -> tensor<Bx1x11008xf32>
  %y = "llm.linear"(%h, %wd) : (tensor<Bx1x11008xf32>, tensor<4096x11008xf32>) -> tensor<Bx1x4096xf32>
  func.return %y : tensor<Bx1x4096xf32>
}"""


def test_dense_ffn_op_b_grows_linearly_with_batch_at_fp16():
    module = analyzed(parse(FFN), "{dtype=f16}")  # an f32 graph counted as fp16
    d, f = 4096, 11008
    op_b = {}
    for batch in (1, 2, 4, 8):
        flops, nbytes = total(module, "ffn", {"B": batch})
        # by hand: three GEMVs of 2·d·f flops per token, SiLU (7) and the product (1) per f
        assert flops == 3 * 2 * d * f * batch + 8 * f * batch
        # fp16 weights, 3·d·f·2 bytes, and the activations each op reads and writes (2 bytes):
        # gate/up read x and write g/u, SiLU g -> a, the product a·u -> h, down h -> y
        acts = ((d + f) * 2 + 2 * f + 3 * f + (f + d)) * batch * 2
        assert nbytes == 3 * d * f * 2 + acts
        op_b[batch] = flops / nbytes
    assert op_b[1] == pytest.approx(1, rel=0.01)  # a GEMV at fp16: 2 flops per 2-byte weight
    for batch in (1, 2, 4):
        assert op_b[2 * batch] / op_b[batch] == pytest.approx(2, rel=0.01)


def test_uniform_moe_expected_experts_match_the_hand_formula_and_enumeration():
    experts, k = 8, 2
    for n in (1, 2, 4, 64):
        assert expected_active_experts(experts, k, n, 0.0) == \
            sympy.Rational(experts) * (1 - sympy.Rational(experts - k, experts) ** n)
    assert expected_active_experts(8, 2, 1, 0.0) == 2  # one token: exactly its top-k
    # exact expectation by enumerating every routing of 3 tokens, top-2 of 4 experts
    choices = list(itertools.combinations(range(4), 2))
    routings = list(itertools.product(choices, repeat=3))
    mean = sympy.Rational(sum(len(set().union(*r)) for r in routings), len(routings))
    assert expected_active_experts(4, 2, 3, 0.0) == mean
    symbolic = expected_active_experts(8, 2, T, 0.0)
    assert symbolic.subs(T, 5) == expected_active_experts(8, 2, 5, 0.0)


def test_skewed_routing_probabilities():
    assert routing_probabilities(4, 1, 0.0) == [0.25] * 4
    # Zipf s=1 over 4 experts, top-2: p ∝ 1, 1/2, 1/3, 1/4, scaled to sum 2
    harmonic = 1 + 1 / 2 + 1 / 3 + 1 / 4
    assert routing_probabilities(4, 2, 1.0) == pytest.approx([2 / r / harmonic for r in (1, 2, 3, 4)])
    # weights that would give p > 1 are capped at 1; the rest share what is left
    assert routing_probabilities(4, 2, (10.0, 1.0, 1.0, 1.0)) == pytest.approx([1, 1 / 3, 1 / 3, 1 / 3])
    skewed = float(expected_active_experts(4, 2, 3, (10.0, 1.0, 1.0, 1.0)))
    assert skewed == pytest.approx(1 + 3 * (1 - (2 / 3) ** 3))
    assert skewed < float(expected_active_experts(4, 2, 3, 0.0))  # skew activates fewer


MOE = """
func.func @moe(%x: tensor<Bx1x4096xf16>, %r: tensor<8x4096xf16>, %g: tensor<8x14336x4096xf16>, %u: tensor<8x14336x4096xf16>, %d: tensor<8x4096x14336xf16>) -> tensor<Bx1x4096xf16> {
  %y = "llm.moe"(%x, %r, %g, %u, %d) {top_k = 2} : (tensor<Bx1x4096xf16>, tensor<8x4096xf16>, tensor<8x14336x4096xf16>, tensor<8x14336x4096xf16>, tensor<8x4096x14336xf16>) -> tensor<Bx1x4096xf16>
  func.return %y : tensor<Bx1x4096xf16>
}"""


@pytest.mark.parametrize("skew", ["uniform", "1.2", '"8,4,2,1,1,1,1,1"'])
def test_mixtral_expert_bytes_follow_the_expected_experts(skew):
    (moe,) = ops_named(analyzed(parse(MOE), f"{{moe-skew={skew}}}"), "moe", "llm.moe")
    d, f, e, k = 4096, 14336, 8, 2
    weights = (1 if skew == "uniform" else 1.2) if not skew.startswith('"') else \
        tuple(float(w) for w in skew.strip('"').split(","))
    for batch in (1, 4, 64):
        active = float(expected_active_experts(e, k, batch, 0.0 if skew == "uniform" else weights))
        expected = 2 * batch * d * 2 + e * d * 2 + active * 3 * d * f * 2
        assert evaluate(op_cost(moe), {"B": batch}).bytes == pytest.approx(expected, rel=1e-9)
    one = evaluate(op_cost(moe), {"B": 1})
    assert 0.9 < one.op_b < 1.1  # one token: two experts' weights, 2 flops per fp16 weight


def test_costs_print_parse_and_verify():
    module = analyzed(decoder_module(DecoderShape(layers=1, hidden=64, heads=4, kv_heads=2,
                                                  ffn=128, vocab=50)), "{kv-dtype=i4}")
    module.body.append(parse(MOE).func("moe").detach())
    analyzed(module, "{moe-skew=0.8}")
    text = print_module(module)
    assert "#pimc.expr<" in text and "#pimc.sym<" in text
    again = parse(text)
    verify(again)
    assert print_module(again) == text
    for a, b in zip(module.walk(), again.walk()):
        assert op_cost(a) == op_cost(b)


def test_identical_ops_share_one_cost_and_70b_scale_is_fast():
    shape = DecoderShape(layers=80, hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=32000,
                         qkv_bias=False)  # Llama-2-70B: about 16k ops
    module = decoder_module(shape)
    start = time.perf_counter()
    analyzed(module)
    assert time.perf_counter() - start < 10  # measured 0.2 s (0.9 s with verification)
    matmuls = ops_named(module, "decode", "llm.matmul")
    q_proj = [op for op in matmuls if op.operands[1].type == matmuls[0].operands[1].type]
    assert len(q_proj) == 160  # q_proj and o_proj (both 8192x8192) of 80 layers, costed once
    assert all(op.attributes["cost"] is q_proj[0].attributes["cost"] for op in q_proj)


def test_unraised_attention_reads_the_cache_at_the_kv_dtype():
    """The synthetic decoder keeps attention as QK^T/PV matmuls over the grown cache."""
    shape = DecoderShape(layers=1, hidden=256, heads=8, kv_heads=2, ffn=512, vocab=100)
    module = analyzed(decoder_module(shape), "{kv-dtype=i8}")
    qk = next(op for op in ops_named(module, "decode", "llm.matmul") if op.attr("transpose_b"))
    at = {"B": 1, "S": 1023}
    groups, keys, hd = 4, 1024, 32
    scores = 2 * groups * keys * 2  # [1, 2, 4, 1, S+1] f16 written
    assert evaluate(op_cost(qk), at).bytes == 2 * groups * hd * 2 + 2 * keys * hd * 1 + scores
    appends = [op for op in ops_named(module, "decode", "llm.concat") if op.attr("axis") == 2]
    assert [evaluate(op_cost(op), at).bytes for op in appends] == [2 * 2 * hd] * 2


def test_intensity_rows():
    module = analyzed(parse(FFN))
    rows = intensity_rows(module, "ffn", {"B": 4})
    assert [r["op"] for r in rows] == ["llm.linear"] * 2 + ["llm.silu", "llm.mul", "llm.linear"]
    assert rows[0]["shape"] == "4x1x11008" and rows[0]["dtype"] == "f32"
    assert rows[0]["flops"] == 2 * 4 * 4096 * 11008
    assert rows[0]["op_b"] == rows[0]["flops"] / rows[0]["bytes"]
    assert len(intensity_rows(module, "ffn", {"B": 4}, include_free=True)) == 8
    with pytest.raises(PimcError, match="depends on B"):
        intensity_rows(module, "ffn", {"S": 4})
    with pytest.raises(PimcError, match="run the analyze-intensity pass first"):
        intensity_rows(parse(FFN), "ffn", {"B": 4})


def test_every_llm_op_has_a_cost_rule():
    assert sorted(set(DIALECTS.get("llm")) - set(RULES)) == []


@pytest.mark.parametrize("pipeline, message", [
    ("analyze-intensity{kv-dtype=i3}", "option 'kv-dtype' of pass 'analyze-intensity' expects "
                                       "one of ir, f32, f16, bf16, i8, i4, i2, got 'i3'"),
    ("analyze-intensity{dtype=i8}", "expects one of ir, f16, bf16, f32, got 'i8'"),
    ("analyze-intensity{moe-skew=zipf}", "expects uniform, a Zipf exponent >= 0 or quoted"),
    ("analyze-intensity{moe-skew=\"1,0\"}", "got '1,0'"),
    ("analyze-intensity{kv-type=i8}", "did you mean 'kv-dtype'"),
])
def test_bad_options_are_one_line_errors(pipeline, message, tmp_path, capsys):
    with pytest.raises(OptionError, match=message.replace("(", r"\(")) as e:
        parse_pipeline(pipeline)
    assert "\n" not in str(e.value)
    from pimc.cli import main
    path = tmp_path / "f.mlir"
    path.write_text(FFN)
    assert main(["opt", str(path), "-p", pipeline]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pimc: error: ") and "\n" not in err


def test_moe_skew_weights_must_match_the_expert_count():
    with pytest.raises(PimcError, match="gives 3 expert weights, but the op has 8 experts"):
        analyzed(parse(MOE), '{moe-skew="3,2,1"}')


@pytest.mark.parametrize("cost, message", [
    ('{flops = "many"}', "attribute 'cost' must be a dictionary of flops, bytes and op_b"),
    ("{watts = 3}", "attribute 'cost' must be a dictionary of flops, bytes and op_b"),
])
def test_malformed_cost_fails_verification(cost, message):
    module = parse(f"""func.func @f(%x: tensor<4xf16>) -> tensor<4xf16> {{
  %y = "llm.neg"(%x) {{cost = {cost}}} : (tensor<4xf16>) -> tensor<4xf16>
  func.return %y : tensor<4xf16>
}}""")
    with pytest.raises(VerifyError, match=message):
        verify(module)


@pytest.mark.parametrize("expr", [
    4096 * B / (B + 4096), 8 - 8 * sympy.Rational(3, 4) ** B, sympy.Float(0.264126149802891) ** (B * T),
    sympy.floor(S / 2) * B / (3 * S + 1), -B ** 2 / (S - 1), 2 ** (-B), sympy.Float(1.5e-20) * S])
def test_real_expressions_round_trip(expr):
    text = real_str(expr)
    assert parse_real(text) == expr and real_str(parse_real(text)) == text
    assert ExprAttr.from_params(ExprAttr(expr).params()) == ExprAttr(expr)


@pytest.mark.parametrize("text", ["B/__import__", "B +", "(B", "B/0", "pi*B", "1e400e"])
def test_real_expression_syntax_errors(text):
    with pytest.raises(RealExprSyntaxError):
        parse_real(text)


def test_integer_costs_use_the_dim_syntax():
    module = analyzed(parse(FFN))
    (first, *_) = ops_named(module, "ffn", "llm.linear")
    cost = first.attributes["cost"]
    assert cost.get("flops") == SymAttr(2 * 4096 * 11008 * B)
    assert isinstance(cost.get("op_b"), ExprAttr)
