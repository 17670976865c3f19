"""analyze-intensity after kv-compress: a decode step's bytes, computed by hand here from the
cache each method keeps (tokens x heads x head dim x bytes, codes at bits/8, KIVI's scales and
residual), on one attention layer as a decoder captures it; and the PIM lowering keeps what
the cost rules read."""
import math

import pytest

from pimc.ir import parse
from pimc.passes import PassManager, parse_pipeline
from pimc.passes.analyze_intensity import intensity_rows

B, HQ, HKV, D, S = 2, 4, 2, 16, 37  # batch, query heads, KV heads, head dim, past tokens
F32 = 4

DECODE = """
func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) {
  %kc = "llm.concat"(%k, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %vc = "llm.concat"(%v, %vn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %a = "llm.attention"(%q, %kc, %vc) {scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
  func.return %a, %kc, %vc : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>
}
"""


def step_bytes(pipeline: str, by_op: bool = False):
    module = parse(DECODE)
    PassManager(parse_pipeline(",".join(p for p in (pipeline, "analyze-intensity") if p))).run(
        module)
    rows = intensity_rows(module, "decode", {"B": B, "S": S})
    if by_op:
        return {r["op"]: r["bytes"] for r in rows}
    return sum(r["bytes"] for r in rows)


# ---- by hand ---------------------------------------------------------------------------------
N = S + 1  # the attention reads the past and the new token
QUERY_AND_OUT = 2 * B * HQ * D * F32
APPENDS = 2 * 2 * B * HKV * D * F32  # K and V: the new token read and written into the buffer


def f32_cache(tokens):  # K and V
    return 2 * B * HKV * tokens * D * F32


def kivi_cache(tokens, bits, group, residual):
    """KIVI as stored: the quantised tokens' codes, keys' scale+zero per channel per group of
    tokens, values' per token per group of channels, the residual tokens in f32."""
    q = tokens - residual
    codes = 2 * B * HKV * q * D * bits / 8
    key_stats = 2 * B * HKV * math.ceil(q / group) * D * F32
    value_stats = 2 * B * HKV * q * math.ceil(D / group) * F32
    return codes + key_stats + value_stats + f32_cache(residual)


def test_uncompressed_decode_step_reads_the_f32_cache():
    assert step_bytes("") == QUERY_AND_OUT + f32_cache(N) + APPENDS


@pytest.mark.parametrize("bits, group, residual", [(4, 4, 2), (2, 8, 0), (8, 32, 4)])
def test_quantised_decode_step_reads_the_codes_not_f32(bits, group, residual):
    """The attention reads the KIVI cache as stored; kv.dequantize is fused into it (no
    bytes); kv.quantize quantises the one token leaving the residual window: it reads that
    token in f32 and writes its codes and its share of the group's scale and zero."""
    quantize_k = B * HKV * (D * F32 + D * bits / 8 + 2 * D * F32 / group)
    quantize_v = B * HKV * (D * F32 + D * bits / 8 + 2 * math.ceil(D / group) * F32)
    want = QUERY_AND_OUT + kivi_cache(N, bits, group, residual) + APPENDS + quantize_k + \
        quantize_v
    got = step_bytes(f"kv-compress{{method=quant,bits={bits},group={group},window={residual}}}")
    assert got == pytest.approx(want, rel=1e-12)
    assert got < step_bytes("")
    assert step_bytes("kv-compress{method=quant,bits=4,group=4,window=2}", by_op=True)[
        "llm.attention"] == pytest.approx(QUERY_AND_OUT + kivi_cache(N, 4, 4, 2), rel=1e-12)


def test_sink_window_decode_step_moves_one_token_into_the_evicted_slot():
    """The attention reads the S + 1 tokens; keep names one slot per (batch, head) (an i64);
    each select reads it and moves the new token (f32, read and written) into that slot."""
    slot = 8 * B * HKV
    move = slot + 2 * B * HKV * D * F32
    want = QUERY_AND_OUT + f32_cache(N) + APPENDS + slot + 2 * move
    assert step_bytes("kv-compress{method=sink-window,ratio=0.5,sinks=2}") == want


def test_h2o_decode_step_accumulates_the_attentions_probabilities():
    """H2O's scores come out of the attention that read K: the step reads the accumulator (S
    tokens) and writes S + 1 scores; keep reads those and names the slot; the scores are
    selected like the cache."""
    scores = B * HKV * S * F32 + B * HKV * N * F32
    keep = B * HKV * N * F32 + 8 * B * HKV
    move = 8 * B * HKV + 2 * B * HKV * D * F32
    move_score = 8 * B * HKV + 2 * B * HKV * F32
    want = QUERY_AND_OUT + f32_cache(N) + APPENDS + scores + keep + 2 * move + move_score
    assert step_bytes("kv-compress{method=h2o,ratio=0.5,window=2}") == want


def test_l2norm_with_quant_computes_only_the_new_keys_norm():
    rows = step_bytes("kv-compress{method=l2norm,ratio=0.5},"
                      "kv-compress{method=quant,bits=4,group=4,window=2}", by_op=True)
    assert rows["kv.key_norm"] == B * HKV * D * F32 + B * HKV * F32
    assert rows["llm.attention"] == pytest.approx(QUERY_AND_OUT + kivi_cache(N, 4, 4, 2))


def test_pim_lowering_keeps_the_quantised_cache_for_the_cost_rules():
    """lower-to-pim turns the decode attention into pim.attention and keeps its `kv`
    attribute; analyzing the lowered IR again still counts the quantised cache. The kv ops stay
    where place-devices put them (they are not lowered)."""
    module = parse(DECODE)
    PassManager(parse_pipeline(
        "kv-compress{method=quant,bits=4,group=4,window=2},analyze-intensity,"
        "place-devices{target=neupims},lower-to-pim{target=neupims},analyze-intensity")).run(
        module)
    rows = intensity_rows(module, "decode", {"B": B, "S": S})
    attention = [r for r in rows if r["op"] == "pim.attention"]
    assert len(attention) == 1
    assert attention[0]["bytes"] == pytest.approx(QUERY_AND_OUT + kivi_cache(N, 4, 4, 2))
    assert {r["op"] for r in rows} >= {"kv.quantize"}
