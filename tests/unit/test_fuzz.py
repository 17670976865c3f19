"""Fuzzing the text front door: mutated IR and random text go through parse + verify + print and
through `pimc opt`. The library may only raise PimcError; the CLI may only exit 0 or 2, never
with a traceback. A module that parses and verifies must also print to a fixed point."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pimc.cli import main
from pimc.errors import ParseError, PimcError
from pimc.frontend.synthetic import DecoderShape, decoder_module
from pimc.ir import parse, print_module, verify
from pimc.ir.dialects import all_op_classes


def _decoder_text() -> str:
    """One decoder layer: prefill and decode (about 250 lines), small enough to parse 2000 times."""
    return print_module(decoder_module(DecoderShape(layers=1, hidden=32, heads=4, kv_heads=2,
                                                     ffn=64, vocab=40)))


SNIPPETS = [
    """builtin.module attributes {pimc.target = "neupims"} {
  func.func @decode(%x: tensor<Bx1x4096xf16>, %w: tensor<4096x11008xf16>) -> tensor<Bx1x11008xf16> {
    %h = "llm.matmul"(%x, %w) {device = #pimc.device<"pim">} : (tensor<Bx1x4096xf16>, tensor<4096x11008xf16>) -> tensor<Bx1x11008xf16>
    func.return %h : tensor<Bx1x11008xf16>
  }
}
""",
    """builtin.module {
  func.func @f(%x: tensor<BxSx8xf16> {pimc.role = "x"}, %c: tensor<Bx2xSx4xf16>) -> (tensor<BxSx2xf16>, tensor<BxSx2xi64>) {
    %t = "llm.transpose"(%x) {perm = [0, 1, 2]} : (tensor<BxSx8xf16>) -> tensor<BxSx8xf16> loc("m"("a.py":1:2))
    %k = "llm.concat"(%c, %c) {axis = 2} : (tensor<Bx2xSx4xf16>, tensor<Bx2xSx4xf16>) -> tensor<Bx2x(2*S)x4xf16>
    %s = "llm.slice"(%t) {axis = 1, end = #pimc.sym<"S//2">, start = 0, step = 1} : (tensor<BxSx8xf16>) -> tensor<Bx(S//2)x8xf16>
    %v, %i = "llm.topk"(%t) {k = 2} : (tensor<BxSx8xf16>) -> (tensor<BxSx2xf16>, tensor<BxSx2xi64>)
    %c1 = "llm.constant"() {value = 1.0e-05} : () -> tensor<f32>
    %r = "llm.reshape"(%x) ({
    ^bb0(%a: tensor<4xf16>):
      %n = "llm.neg"(%a) : (tensor<4xf16>) -> tensor<4xf16>
    }) {cost = {flops = 3, op_b = 0.5}} : (tensor<BxSx8xf16>) -> tensor<(8*B*S)xf16>
    func.return %v, %i : tensor<BxSx2xf16>, tensor<BxSx2xi64>
  }
}
""",
    """func.func @g(%q: tensor<Bx8xTx32xf16>, %k: tensor<Bx2xSx32xf16>, %m: !kv.cache<4, "int4">) -> tensor<Bx8xTx32xf16> {
  %o = "llm.attention"(%q, %k, %k) {causal = true, scale = 0.125} : (tensor<Bx8xTx32xf16>, tensor<Bx2xSx32xf16>, tensor<Bx2xSx32xf16>) -> tensor<Bx8xTx32xf16>
  %u = "llm.cast"(%m) : (!kv.cache<4, "int4">) -> tensor<4xf16>
  func.return %o : tensor<Bx8xTx32xf16>
}
// -----
builtin.module {
}
""",
]
SEEDS = SNIPPETS + [_decoder_text()]

# Fragments that the grammar, the dim syntax and the attribute kinds care about.
FRAGMENTS = [
    "%x", "%0", "%v", "(", ")", "{", "}", "<", ">", "[", "]", ",", ":", "=", "->", '"', "\\", "x",
    "-", "*", "//", "+", "0", "1", "-1", "99999999999999999999999", "1.5e309", "-inf", "nan",
    "B", "S", "(S+1)", "(S//0)", "(0-4)", "tensor<", "tensor<4xf16>", "f16", "i64", "f17",
    "!kv.cache<1>", '#pimc.sym<"S-1">', '#pimc.device<"pim">', '#pimc.weight<"w">', "loc(",
    'loc("a":1:2)', '"llm.add"', '"llm.topk"', '"llm.attention"', '"llm.concat"', '"llm.slice"',
    "^bb0", "^bb0(%a: tensor<f16>):", "@f", "builtin.module", "func.func", "func.return", "unit",
    "true", "axis = 0", "k = 0", "perm = [1, 0]", "\n", " ", "\t", "\u00e9", "\x00", "\u00b2",
    "// -----", "\\u00e9", "\\q",
]
TOKEN_RE = re.compile(r'\s+|"(?:[^"\\\n]|\\.)*"|[%@^!#]?[\w.$-]+|.', re.S)


@st.composite
def mutated_ir(draw) -> str:
    """A seed with one to three mutations: characters or whole tokens deleted, inserted or
    replaced, lines swapped or duplicated, or the text truncated."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "token-delete",
                                     "token-insert", "token-replace", "swap", "dup", "truncate"]))
        if kind in ("swap", "dup"):
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if kind == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(j, lines[i])
            text = "\n".join(lines)
        elif kind.startswith("token"):
            tokens = TOKEN_RE.findall(text) or [""]
            i = draw(st.integers(0, len(tokens) - 1))
            new = draw(st.sampled_from(FRAGMENTS) | st.sampled_from(tokens))
            if kind == "token-delete":
                del tokens[i]
            elif kind == "token-insert":
                tokens.insert(i, new)
            else:
                tokens[i] = new
            text = "".join(tokens)
        else:
            pos = draw(st.integers(0, len(text)))
            if kind == "truncate":
                text = text[:pos]
            elif kind == "delete":
                text = text[:pos] + text[pos + draw(st.integers(1, 8)):]
            else:
                new = draw(st.sampled_from(FRAGMENTS) | st.characters())
                text = text[:pos] + new + text[pos + (kind == "replace"):]
    return text


OP_CLASSES = sorted(all_op_classes(), key=lambda cls: cls.name)
DIM_TEXT = st.sampled_from(["0", "1", "2", "3", "4", "8", "B", "S", "T", "(S+1)", "(S//2)", "(2*B)",
                            "(S-1)", "(B*S)"])
TENSOR_TEXT = st.builds(lambda dims, elem: "tensor<" + "".join(d + "x" for d in dims) + elem + ">",
                        st.lists(DIM_TEXT, max_size=4),
                        st.sampled_from(["f16", "f32", "i64", "i1"]))
TYPE_TEXT = TENSOR_TEXT | st.just("!kv.cache<1>")
# Values for each attribute kind of pimc.ir.opdef.ATTR_KINDS, edge cases included.
ATTR_VALUES = {
    "int": ["0", "1", "2", "3", "-1", "-3", "99999999999999999999"],
    "float": ["1.0", "0.125", "1.5e309", "nan", "-inf", "7", "9" * 400],
    "bool": ["true", "false"], "unit": ["unit"],
    "str": ['"half"', '"interleaved"', '"tanh"', '"none"', '"x"'],
    "ints": ["[0]", "[1, 0]", "[-1]", "[0, 2, 1, 3]", "[]", "[0, 0]", "[5]"],
    "dim": ["0", "1", "2", "4", "-1", '#pimc.sym<"S">', '#pimc.sym<"S+1">', '#pimc.sym<"S//2">'],
    "type": ["f16"], "symbol": ["@f"], "dict": ["{flops = 1}"], "any": ["1"],
    "weight": ['#pimc.weight<"w">'], "device": ['#pimc.device<"pim">'],
}


@st.composite
def generated_op(draw) -> str:
    """One op of a registered kind with the operand count and attributes it declares (plus the
    odd extra), on function arguments of random types and ranks: this reaches the shape rules."""
    cls = draw(st.sampled_from(OP_CLASSES))
    names = cls.operand_names
    count = sum(not n.endswith(("?", "*")) for n in names) + draw(st.integers(0, 2)) * any(
        n.endswith(("?", "*")) for n in names) + draw(st.sampled_from([0, 0, 0, 0, 1]))
    arg_types = draw(st.lists(TYPE_TEXT, min_size=count, max_size=count))
    attrs = {}
    for key, spec in cls.attrs.items():
        if spec.required or draw(st.booleans()):
            attrs[key] = draw(st.sampled_from(ATTR_VALUES.get(spec.kind, ["1"])))
    results = draw(st.lists(TYPE_TEXT, min_size=cls.num_results or 0,
                            max_size=cls.num_results if cls.num_results is not None else 2))
    head = ", ".join(f"%r{i}" for i in range(len(results)))
    head = f"{head} = " if results else ""
    attr_text = (" {" + ", ".join(f"{k} = {v}" for k, v in sorted(attrs.items())) + "}"
                 if attrs else "")
    args = ", ".join(f"%a{i}: {t}" for i, t in enumerate(arg_types))
    op = (f'{head}"{cls.name}"({", ".join(f"%a{i}" for i in range(count))}){attr_text} : '
          f'({", ".join(arg_types)}) -> ({", ".join(results)})')
    return f"func.func @f({args}) {{\n  {op}\n  func.return\n}}\n"


IR_CHARS = st.sampled_from(list('%@^!#"(){}<>[],:=-+*/\\ \n.xBST0123456789abcdefilmnorstuv_'))
RANDOM_TEXT = st.text(max_size=120) | st.text(IR_CHARS, max_size=200) | st.lists(
    st.sampled_from(FRAGMENTS), max_size=40).map("".join)
INPUTS = mutated_ir() | RANDOM_TEXT | generated_op()

FUZZ = settings(max_examples=2000, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])


def check_library(text: str) -> None:
    try:
        module = parse(text, "fuzz.mlir")
        verify(module)
        printed = print_module(module)
    except PimcError as e:
        assert str(e).startswith(e.message)  # the diagnostic renders
        if isinstance(e, ParseError):
            assert 1 <= e.pos.line <= text.count("\n") + 1 and e.pos.col >= 1
        return
    again = parse(printed, "printed.mlir")
    verify(again)
    assert print_module(again) == printed


@FUZZ
@given(INPUTS)
def test_library_raises_only_pimc_errors(text):
    check_library(text)


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "input.mlir"


PIPELINES = ["", "canonicalize,cse,dce", "dce,canonicalize{max-iterations=1}"]


@FUZZ
@given(INPUTS | st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
       st.sampled_from(PIPELINES), st.booleans(), st.booleans())
def test_cli_exits_0_or_2_without_traceback(capsys, fuzz_file, text, pipeline, split, latin1):
    capsys.readouterr()
    # Sometimes write the text as latin-1: non-ASCII then is not UTF-8, a user error too.
    fuzz_file.write_bytes(text.encode("latin-1", "replace") if latin1 else
                          text.encode("utf-8", "surrogatepass"))
    argv = ["opt", str(fuzz_file), "-p", pipeline] + (["--split-input-file"] if split else [])
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err and "Traceback" not in out
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith("pimc: error: ")]
        assert errors and out == ""
        if not split:
            assert len(errors) == 1
    else:
        assert err == ""
        if not split:
            parse(out)  # what opt printed is valid IR
