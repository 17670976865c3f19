"""The text form: print(parse(print(m))) == print(m), hand-written canonical texts, and parse
errors at the exact line/col with a caret under the offending token."""
from __future__ import annotations

import textwrap

import pytest

from pimc.errors import ParseError, PimcError
from pimc.frontend.synthetic import DecoderShape, decoder_module
from pimc.ir import parse, print_module, verify
from pimc.ir.attrs import DeviceAttr, FloatAttr, IntAttr, StrAttr, SymAttr, WeightAttr
from pimc.ir.location import FileLineColLoc, NameLoc
from pimc.ir.symbolic import sym
from pimc.ir.types import DialectType, TensorType, f16


def assert_fixed_point(text: str) -> str:
    printed = print_module(parse(text))
    assert print_module(parse(printed)) == printed
    return printed


# ---- round trips ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def decoder_text() -> str:
    return print_module(decoder_module(DecoderShape(layers=2)))


def test_decoder_round_trip(decoder_text):
    module = parse(decoder_text, "decoder.mlir")
    verify(module)
    assert print_module(module) == decoder_text
    assert [f.sym_name for f in module.funcs] == ["prefill", "decode"]


def test_decoder_round_trip_without_locations(decoder_text):
    bare = print_module(parse(decoder_text), print_locations=False)
    assert "loc(" not in bare
    assert print_module(parse(bare)) == bare
    # dropping locations changes nothing else
    assert bare.count("\n") == decoder_text.count("\n")


def test_decoder_text_keeps_symbolic_dims(decoder_text):
    """The decode function's KV cache grows by one along S: the text says (S+1)."""
    assert "tensor<Bx2x(S+1)x32xf16>" in decoder_text
    assert "tensor<(B*T)x256xf16>" in decoder_text


DESIGN_EXAMPLE = """\
builtin.module attributes {pimc.target = "neupims"} {
  func.func @decode(%x: tensor<Bx1x4096xf16>, %w: tensor<4096x11008xf16>) -> tensor<Bx1x11008xf16> {
    %h = "llm.matmul"(%x, %w) {device = #pimc.device<"pim">} : (tensor<Bx1x4096xf16>, tensor<4096x11008xf16>) -> tensor<Bx1x11008xf16>
    func.return %h : tensor<Bx1x11008xf16>
  }
}
"""


def test_design_example_is_canonical():
    module = parse(DESIGN_EXAMPLE)
    verify(module)
    assert print_module(module) == DESIGN_EXAMPLE
    (matmul, ret) = list(module.func("decode").body.ops)
    assert matmul.name == "llm.matmul" and matmul.attributes["device"] == DeviceAttr("pim")
    B = sym("B")
    assert matmul.result.type == TensorType((B, 1, 11008), f16)
    assert ret.operands == [matmul.result]


CANONICAL = """\
builtin.module attributes {pimc.model = "m", pimc.note = [1, -2, 3.5, "s\\n", true, false]} {
  func.func @f(%x: tensor<BxSx8xf16> {pimc.role = "input"}, %w: tensor<8x8xf16>) -> (tensor<BxSx8xf16>, tensor<BxSx2xf16>, tensor<BxSx2xi64>) attributes {pimc.entry} {
    %0 = "llm.weight"() {handle = #pimc.weight<"model.w">} : () -> tensor<8xf16>
    %y = "llm.linear"(%x, %w, %0) {cost = {bytes = 10, flops = #pimc.sym<"2*B*S">, op_b = 0.5}} : (tensor<BxSx8xf16>, tensor<8x8xf16>, tensor<8xf16>) -> tensor<BxSx8xf16> loc("model.layers.0.mlp"("model.py":12:8))
    %v, %i = "llm.topk"(%y) {k = 2} : (tensor<BxSx8xf16>) -> (tensor<BxSx2xf16>, tensor<BxSx2xi64>) loc("a.mlir":3:5)
    %s = "llm.slice"(%y) {axis = 1, end = #pimc.sym<"S-1">, start = 0} : (tensor<BxSx8xf16>) -> tensor<Bx(S-1)x8xf16> loc("slice")
    func.return %y, %v, %i : tensor<BxSx8xf16>, tensor<BxSx2xf16>, tensor<BxSx2xi64>
  }
  func.func @g() {
    func.return
  }
}
"""


def test_hand_written_canonical_text():
    module = parse(CANONICAL)
    verify(module)
    assert print_module(module) == CANONICAL
    f = module.func("f")
    weight, linear, topk, sl, _ = list(f.body.ops)
    assert weight.attributes["handle"] == WeightAttr("model.w")
    cost = linear.attributes["cost"]
    assert cost.get("bytes") == IntAttr(10) and cost.get("op_b") == FloatAttr(0.5)
    B, S = sym("B"), sym("S")
    assert cost.get("flops") == SymAttr(2 * B * S)
    assert linear.loc == NameLoc("model.layers.0.mlp", FileLineColLoc("model.py", 12, 8))
    assert topk.loc == FileLineColLoc("a.mlir", 3, 5) and len(topk.results) == 2
    assert sl.result.type.shape[1] == S - 1
    assert module.attributes["pimc.model"] == StrAttr("m")


def test_non_canonical_spellings_normalise():
    """Blank lines, comments, spacing, attribute order, unnamed values and MLIR's `module`
    spelling all print in the canonical form, which is then a fixed point."""
    text = textwrap.dedent("""\
        // a comment
        module {
          func.func @f(%arg0: tensor<4xf16>) -> tensor<4xf16> {
            %1 = "llm.softmax"(%arg0)   {axis = -1} :   (tensor<4xf16>)->tensor<4xf16>
            %b = "llm.add"(%1, %1) {"pimc.z" = 1, pimc.a = "x"} : (tensor<4xf16>, tensor<4xf16>) -> tensor<4xf16>  // trailing

            func.return %b : tensor<4xf16>
          }
        }
        """)
    printed = assert_fixed_point(text)
    assert printed == textwrap.dedent("""\
        builtin.module {
          func.func @f(%arg0: tensor<4xf16>) -> tensor<4xf16> {
            %0 = "llm.softmax"(%arg0) {axis = -1} : (tensor<4xf16>) -> tensor<4xf16>
            %b = "llm.add"(%0, %0) {pimc.a = "x", pimc.z = 1} : (tensor<4xf16>, tensor<4xf16>) -> tensor<4xf16>
            func.return %b : tensor<4xf16>
          }
        }
        """)


@pytest.mark.parametrize("text", [
    "",
    "builtin.module {\n}\n",
    # a region with a block argument, and a value shadowing an outer name
    """builtin.module {
  func.func @f(%x: tensor<4xf16>) -> tensor<4xf16> {
    %a = "llm.neg"(%x) ({
    ^bb0(%x: tensor<4xf16>):
      %n = "llm.exp"(%x) : (tensor<4xf16>) -> tensor<4xf16>
    }, {
      %m = "llm.exp"(%x) : (tensor<4xf16>) -> tensor<4xf16>
    }) : (tensor<4xf16>) -> tensor<4xf16>
    func.return %a : tensor<4xf16>
  }
}""",
    # every builtin attribute kind, escaped strings and quoted keys
    """builtin.module {
  func.func @f() attributes {pimc.a = [1, -2, 3.5e-05, -inf, nan, "q\\"\\u00e9\\t", true, false, unit, @f, tensor<2x(S//2)xbf16>, i4, {k = 1, "odd key" = 2}], pimc.b} {
    func.return
  }
}""",
    # function-level syntax without a module around it
    """func.func @a(%x: tensor<2xf32>) -> tensor<2xf32> {
  func.return %x : tensor<2xf32>
}
func.func @b() {
  func.return
}""",
])
def test_snippets_are_fixed_points(text):
    assert_fixed_point(text)


def test_general_signature_path_with_dialect_types():
    """`: (!dialect.type<...>) -> ...` is not the fast SIGNATURE token: the general rule parses."""
    text = """builtin.module {
  func.func @f(%c: !kv.cache<4, "int4", [1, 2]>, %x: tensor<4xf16>) -> !kv.cache<4, "int4", [1, 2]> {
    %r = "llm.reshape"(%c) : (!kv.cache<4, "int4", [1, 2]>) -> tensor<4xf16>
    %y, %z = "llm.topk"(%x) {k = 1} : (tensor<4xf16>) -> (tensor<1xf16>, !pim.weights<tensor<4xf16>>)
    %w = "llm.neg"(%x)
      : (tensor<4xf16>)
      -> tensor<4xf16>
    func.return %c : !kv.cache<4, "int4", [1, 2]>
  }
}
"""
    module = parse(text)
    f = module.func("f")
    cache_t = DialectType("kv.cache", (IntAttr(4), StrAttr("int4"), f.args[0].type.params[2]))
    assert f.args[0].type == cache_t
    reshape, topk, neg, _ = list(f.body.ops)
    assert reshape.operands[0].type == cache_t
    assert topk.results[1].type.name == "pim.weights"
    assert neg.result.type == TensorType((4,), f16)
    printed = assert_fixed_point(text)
    assert '%w = "llm.neg"(%x) : (tensor<4xf16>) -> tensor<4xf16>' in printed
    assert "(!kv.cache<4, \"int4\", [1, 2]>) -> tensor<4xf16>" in printed


# ---- parse errors -----------------------------------------------------------------------------

GOOD = [
    'builtin.module {',
    '  func.func @f(%x: tensor<Bx4xf16>, %w: tensor<4x8xf16>) -> tensor<Bx8xf16> {',
    '    %h = "llm.matmul"(%x, %w) : (tensor<Bx4xf16>, tensor<4x8xf16>) -> tensor<Bx8xf16>',
    '    func.return %h : tensor<Bx8xf16>',
    '  }',
    '}',
]


def with_line(line_no: int, new: str) -> str:
    lines = list(GOOD)
    lines[line_no - 1] = new
    return "\n".join(lines) + "\n"


def assert_error_at(text: str, line: int, token: str, match: str = "", nth: int = 0,
                    filename: str = "in.mlir") -> ParseError:
    """The error is at `line`, at the column where `token` starts (its nth occurrence)."""
    src_line = text.split("\n")[line - 1]
    col = -1
    for _ in range(nth + 1):
        col = src_line.index(token, col + 1)
    col += 1
    with pytest.raises(ParseError) as info:
        parse(text, filename)
    e = info.value
    assert (e.pos.file, e.pos.line, e.pos.col) == (filename, line, col), (e.message, token)
    assert e.message.startswith(f"{filename}:{line}:{col}: ")
    if match:
        assert match in e.message, e.message
    caret_line, caret = e.context.split("\n")
    assert caret_line == src_line.expandtabs(1)  # a tab counts as one column, shown as a blank
    assert caret == " " * (col - 1) + "^"
    assert caret_line[caret.index("^"):].startswith(token)
    assert isinstance(e, PimcError) and str(e) == e.message + "\n" + e.context
    return e


# One edit to line 3 of GOOD (the matmul): the error must point at `token` on that line.
# (id, edited line, token, message fragment, occurrence of the token)
LINE3_ERRORS = [
    ("undefined_value", GOOD[2].replace("%w)", "%v)"), "%v", "undefined SSA value %v", 0),
    ("unknown_op_suggests", GOOD[2].replace("llm.matmul", "llm.matmull"), '"llm.matmull"',
     "did you mean 'llm.matmul'", 0),
    ("unknown_dialect", GOOD[2].replace("llm.matmul", "lml.matmul"), '"lml.matmul"',
     "unknown dialect 'lml'", 0),
    ("bad_element_type_in_signature", GOOD[2].replace("tensor<4x8xf16>)", "tensor<4x8xf17>)"),
     "f17", "unknown element type 'f17'", 0),
    ("bad_dim_in_signature", GOOD[2].replace("tensor<4x8xf16>)", "tensor<4x(S+)xf16>)"),
     ")xf16", "unexpected ')'", 0),
    ("syntax_unexpected_token", GOOD[2] + " garbage", "garbage", "unexpected 'garbage'", 0),
    ("syntax_missing_comma", GOOD[2].replace("%x, %w", "%x %w"), "%w", "unexpected '%w'", 0),
    ("unexpected_character", GOOD[2].replace("= \"llm", "= ?\"llm"), "?", "unexpected '?'", 0),
    ("operand_type_mismatch", GOOD[2].replace("(tensor<Bx4xf16>,", "(tensor<Bx4xf32>,"), "%x",
     "has type tensor<Bx4xf16>", 0),
    ("duplicate_attribute", GOOD[2].replace(") :", ") {pimc.a = 1, pimc.a = 2} :"), "pimc.a",
     "duplicate attribute 'pimc.a'", 1),
    ("result_count_mismatch", GOOD[2].replace("%h =", "%h, %g ="), "%h", "names 2 result(s)", 0),
    ("unknown_dialect_attribute", GOOD[2].replace(") :", ') {device = #pimc.devise<"pim">} :'),
     "#pimc.devise", "unknown dialect attribute", 0),
    ("bad_device_name", GOOD[2].replace(") :", ') {device = #pimc.device<"tpu">} :'),
     "#pimc.device", "unknown device 'tpu'", 0),
    ("invalid_string_escape", GOOD[2].replace(") :", ') {pimc.s = "a\\qb"} :'), "\\q",
     "invalid string", 0),
    ("invalid_escape_in_location", GOOD[2] + ' loc("a\\qb":1:2)', "\\q", "invalid string", 0),
]


@pytest.mark.parametrize("bad, token, match, nth", [c[1:] for c in LINE3_ERRORS],
                         ids=[c[0] for c in LINE3_ERRORS])
def test_error_in_one_line(bad, token, match, nth):
    assert_error_at(with_line(3, bad), 3, token, match, nth=nth)


def test_error_bad_dim_in_argument_type():
    bad = GOOD[1].replace("tensor<Bx4xf16>", "tensor<Bx4$xf16>")
    assert_error_at(with_line(2, bad), 2, "4$", "invalid dim '4$'")


def test_error_in_multiline_signature_points_into_the_right_line():
    text = "\n".join(GOOD[:2] + [
        '    %h = "llm.matmul"(%x, %w) : (tensor<Bx4xf16>,',
        '           tensor<4x8xf99>) -> tensor<Bx8xf16>',
    ] + GOOD[3:]) + "\n"
    assert_error_at(text, 4, "f99", "unknown element type 'f99'")


def test_error_redefinition():
    text = "\n".join(GOOD[:3] + [GOOD[2]] + GOOD[3:]) + "\n"
    assert_error_at(text, 4, "%h", "redefinition of SSA value %h")


def test_error_generic_form_of_func_is_refused():
    bad = '    "func.return"(%h) : (tensor<Bx8xf16>) -> ()'
    assert_error_at(with_line(4, bad), 4, '"func.return"', "custom form")


def test_error_at_end_of_input():
    text = "\n".join(GOOD[:4])  # truncated: the closing braces are missing
    with pytest.raises(ParseError) as info:
        parse(text, "t.mlir")
    e = info.value
    assert (e.pos.line, e.pos.col) == (4, len(GOOD[3]) + 1)
    assert "end of input" in e.message
    assert e.context.split("\n")[1] == " " * len(GOOD[3]) + "^"


def test_tabs_do_not_shift_the_caret():
    bad = "\t" + GOOD[2].lstrip().replace("%w)", "%v)")
    e = assert_error_at(with_line(3, bad), 3, "%v")
    assert "\t" not in e.context


# ---- limits ---------------------------------------------------------------------------------------

def _nested_regions(n: int) -> str:
    if n == 0:
        return ""
    return (f'%v{n} = "llm.neg"(%x) ({{\n{_nested_regions(n - 1)}\n}}) : '
            "(tensor<4xf16>) -> tensor<4xf16>")


@pytest.mark.parametrize("text, opener", [
    ("func.func @f() attributes {pimc.a = " + "[" * 600 + "]" * 600 + "} {\nfunc.return\n}\n",
     "["),
    ("func.func @f(%x: tensor<4xf16>) {\n" + _nested_regions(400) + "\nfunc.return\n}\n", "{"),
])
def test_absurd_nesting_is_a_parse_error_not_a_crash(text, opener):
    """Printing and verifying recurse per level: the parser refuses input nested thousands deep
    (at the first bracket past the limit) instead of letting a RecursionError out later."""
    with pytest.raises(ParseError, match="nest") as info:
        parse(text)
    e = info.value
    line = text.split("\n")[e.pos.line - 1]
    assert line[e.pos.col - 1] in "([{<"
    offset = sum(len(x) + 1 for x in text.split("\n")[:e.pos.line - 1]) + e.pos.col - 1
    before = text[:offset]
    opened = sum(before.count(c) for c in "([{<") - sum(before.count(c) for c in ")]}>")
    assert opened == 64  # the 65th open bracket is refused
    assert opener in line


def test_reasonable_nesting_is_fine():
    text = "func.func @f() attributes {pimc.a = " + "[" * 40 + "]" * 40 + "} {\n  func.return\n}\n"
    assert "[" * 40 in assert_fixed_point(text)
