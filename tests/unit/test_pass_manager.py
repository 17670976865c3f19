"""Pipeline strings, pass options, the PassManager's instruments and verify-after-each, and
registry lookups with "did you mean"."""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import pytest

from pimc.errors import OptionError, ParseError, PassFailure, PimcError, UnknownNameError
from pimc.ir import ModuleOp, TensorType, parse, print_module, verify
from pimc.ir.dialects import op_class
from pimc.passes import PASSES, Context, Pass, PassManager, parse_pipeline, pipeline_text
from pimc.passes.pipelines import build
from pimc.registry import Registry

TEXT = """\
builtin.module {
  func.func @f(%x: tensor<Bx4xf16>, %w: tensor<4x8xf16>) -> tensor<Bx8xf16> {
    %t = "llm.transpose"(%x) {perm = [0, 1]} : (tensor<Bx4xf16>) -> tensor<Bx4xf16>
    %h = "llm.matmul"(%t, %w) : (tensor<Bx4xf16>, tensor<4x8xf16>) -> tensor<Bx8xf16>
    %dead = "llm.neg"(%h) : (tensor<Bx8xf16>) -> tensor<Bx8xf16>
    func.return %h : tensor<Bx8xf16>
  }
}
"""


@dataclass(frozen=True)
class OptionsPass(Pass):
    """A pass with one option of every supported kind.

    Used only by these tests."""

    name = "test-options"
    count: int = 1
    ratio: float = 0.5
    flag: bool = False
    label: str = "x"
    method: Literal["l2norm", "h2o"] = "l2norm"

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        pass


@dataclass(frozen=True)
class BreakTypes(Pass):
    """Corrupts the IR on purpose: gives the first llm.neg a wrong result type."""

    name = "test-break-types"

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        op = next(op for op in module.walk() if op.name == "llm.neg")
        op.results[0].type = TensorType((3, 3), op.results[0].type.element)


@pytest.fixture
def test_passes(monkeypatch):
    """Register the test passes for one test only (the registry is global)."""
    for cls in (OptionsPass, BreakTypes):
        monkeypatch.setitem(PASSES._loaders, cls.name, lambda cls=cls: cls)


# ---- pipeline strings ----------------------------------------------------------------------------

def test_empty_pipeline():
    assert parse_pipeline("") == [] and parse_pipeline("   ") == []


def test_whitespace_everywhere():
    a = parse_pipeline("canonicalize,cse,dce")
    b = parse_pipeline("  canonicalize ,\tcse ,  dce  ")
    assert [p.name for p in a] == [p.name for p in b] == ["canonicalize", "cse", "dce"]
    (p,) = parse_pipeline(" canonicalize { max-iterations = 3 } ")
    assert p.max_iterations == 3


def test_option_kinds_and_quoted_values(test_passes):
    (p,) = parse_pipeline('test-options{count=3, ratio = 0.25 ,flag=true,label="a, b{} c",'
                          'method=h2o}')
    assert p == OptionsPass(count=3, ratio=0.25, flag=True, label="a, b{} c", method="h2o")
    (q,) = parse_pipeline('test-options{count="7",flag=0}')
    assert q == OptionsPass(count=7, flag=False)


@pytest.mark.parametrize("passes", [
    [OptionsPass()],
    [OptionsPass(count=-2, ratio=1e-07, flag=True, label="plain", method="h2o")],
    [OptionsPass(label="a, b{} c"), OptionsPass(label="")],
    [OptionsPass(label="tab\there")],
])
def test_pipeline_text_round_trip(test_passes, passes):
    text = pipeline_text(passes)
    assert parse_pipeline(text) == passes, text


def test_pipeline_text_spelling():
    passes = parse_pipeline("canonicalize{max-iterations=4},cse")
    assert pipeline_text(passes) == "canonicalize{max-iterations=4},cse"
    assert pipeline_text(parse_pipeline("canonicalize{max-iterations=10}")) == "canonicalize"


@pytest.mark.parametrize("text, col, match", [
    ("canonicalize{max-iterations}", 28, "expected '=' after option 'max-iterations'"),
    ("canonicalize{max-iterations 3}", 29, "expected '='"),
    ("canonicalize{max-iterations=3", 30, "expected ',' or '}'"),
    ("canonicalize{", 14, "expected an option name"),
    ("canonicalize,", 14, "expected a pass name"),
    ("canonicalize{max-iterations=3,}", 31, "expected an option name"),
    ("canonicalize{max-iterations=3,max-iterations=4}", 31, "given twice"),
    (",cse", 1, "expected a pass name"),
    ("cse dce", 5, "expected ',' or end of pipeline"),
    ("Cse", 1, "expected a pass name"),
    ('canonicalize{max-iterations="3}', 29, "expected a value"),
])
def test_pipeline_syntax_errors(text, col, match):
    with pytest.raises(ParseError) as info:
        parse_pipeline(text)
    e = info.value
    assert (e.pos.line, e.pos.col) == (1, col), e.message
    assert match in e.message
    assert e.context == text + "\n" + " " * (col - 1) + "^"


def test_unknown_pass_in_pipeline():
    with pytest.raises(UnknownNameError) as info:
        parse_pipeline("cse,canonicalise")
    msg = info.value.message
    assert msg.startswith("<pipeline>:1:5: unknown pass 'canonicalise'")
    assert "did you mean 'canonicalize'" in msg and f"valid: {', '.join(sorted(PASSES))}" in msg
    assert {"canonicalize", "cse", "dce"} <= set(PASSES)


def test_unknown_option_lists_valid_options(test_passes):
    with pytest.raises(OptionError) as info:
        parse_pipeline("test-options{cout=3}")
    msg = info.value.message
    assert "unknown option 'cout'" in msg and "did you mean 'count'" in msg
    valid = msg.split("valid: ")[1]
    assert sorted(valid.split(", ")) == ["count", "flag", "label", "method", "ratio"]


@pytest.mark.parametrize("option, value, kind", [
    ("count", "abc", "int"), ("count", "1.5", "int"), ("ratio", "fast", "float"),
    ("flag", "maybe", "bool"), ("method", "svd", "one of l2norm, h2o"),
])
def test_badly_typed_options(test_passes, option, value, kind):
    with pytest.raises(OptionError) as info:
        parse_pipeline(f"test-options{{{option}={value}}}")
    assert info.value.message == (f"option '{option}' of pass 'test-options' expects {kind}, "
                                  f"got '{value}'")


def test_pass_metadata():
    assert OptionsPass.summary() == "A pass with one option of every supported kind."
    assert list(OptionsPass.option_types()) == ["count", "ratio", "flag", "label", "method"]
    assert PASSES.get("canonicalize").option_types()["max-iterations"] == ("max_iterations", int)


# ---- the PassManager ------------------------------------------------------------------------------

def test_verify_after_each_names_the_failing_pass(test_passes):
    module = parse(TEXT)
    pm = PassManager(parse_pipeline("canonicalize,test-break-types,dce"))
    with pytest.raises(PassFailure) as info:
        pm.run(module)
    msg = info.value.message
    assert "pass 'test-break-types' produced invalid IR" in msg
    assert "'llm.neg' op result #0 should be tensor<Bx8xf16>, found tensor<3x3xf16>" in msg
    assert "llm.neg" in info.value.context
    assert isinstance(info.value, PimcError)
    assert [name for name, _ in pm.timings] == ["canonicalize", "test-break-types"]  # dce never ran


def test_without_verify_each_the_breakage_goes_unnoticed(test_passes):
    module = parse(TEXT)
    PassManager(parse_pipeline("test-break-types"), verify_each=False).run(module)
    with pytest.raises(PimcError, match="'llm.neg' op"):
        verify(module)


def test_instruments_write_to_the_given_stream():
    out = io.StringIO()
    module = parse(TEXT)
    PassManager(parse_pipeline("canonicalize,cse,dce"), print_before=("cse",),
                print_after=("dce",), time_passes=True, out=out).run(module)
    text = out.getvalue()
    before_cse = text.split("// -----// IR Dump Before cse //----- //\n")[1]
    assert before_cse.startswith(print_module(parse(TEXT.replace(
        '    %t = "llm.transpose"(%x) {perm = [0, 1]} : (tensor<Bx4xf16>) -> tensor<Bx4xf16>\n',
        "").replace("(%t, %w)", "(%x, %w)"))))
    after_dce = text.split("// -----// IR Dump After dce //----- //\n")[1]
    assert after_dce.startswith(print_module(module))
    assert "%dead" not in after_dce
    assert "Pass execution timing report" in text
    for name in ("canonicalize", "cse", "dce", "Total"):
        assert f"  {name}\n" in text


def test_print_after_all_dumps_once_per_pass():
    out = io.StringIO()
    PassManager(parse_pipeline("cse,cse,dce"), print_after_all=True, out=out).run(parse(TEXT))
    assert out.getvalue().count("// -----// IR Dump After ") == 3


def test_named_pipeline():
    assert [p.name for p in build("cleanup")] == ["canonicalize", "cse", "dce"]
    with pytest.raises(UnknownNameError, match="did you mean 'cleanup'"):
        build("clean-up")


# ---- registries -----------------------------------------------------------------------------------

def test_pass_registry_unknown_name():
    with pytest.raises(UnknownNameError) as info:
        PASSES.get("csee")
    e = info.value
    assert e.name == "csee" and e.valid == sorted(PASSES)
    assert "unknown pass 'csee' (did you mean 'cse'?)" in e.message
    with pytest.raises(UnknownNameError) as info:
        PASSES.get("zzzz")
    message = info.value.message
    assert "did you mean" not in message and "valid: analyze-intensity, canonicalize" in message


def test_registry_is_lazy_and_rejects_duplicates():
    calls = []
    reg: Registry[str] = Registry("widget")
    reg.register("alpha", lambda: calls.append("alpha") or "A")
    reg.register("beta", lambda: calls.append("beta") or "B")
    assert calls == [] and "alpha" in reg and list(reg) == ["alpha", "beta"]
    assert reg.get("alpha") == "A" and reg.get("alpha") == "A"
    assert calls == ["alpha"]
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("alpha", lambda: "again")
    with pytest.raises(UnknownNameError, match=r"unknown widget 'alpah' \(did you mean 'alpha'\?\); "
                                               r"valid: alpha, beta"):
        reg.get("alpah")


def test_op_registry_unknown_names():
    with pytest.raises(UnknownNameError, match="did you mean 'llm.matmul'"):
        op_class("llm.matmull")
    with pytest.raises(UnknownNameError, match="unknown dialect 'llx'.*did you mean 'llm'"):
        op_class("llx.matmul")


def test_named_pipelines_expand_in_place_among_other_steps():
    from pimc.passes.pipelines import expand, passes_of
    text = expand("cleanup, kv-compress{method=quant,bits=4},cleanup")
    assert text == "canonicalize,cse,dce,kv-compress{method=quant,bits=4},canonicalize,cse,dce"
    assert [p.name for p in passes_of("default")] == \
        ["canonicalize", "raise-llm-ops", "canonicalize", "cse", "dce"]
