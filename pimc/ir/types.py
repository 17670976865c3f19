"""IR types: element types, ranked tensors with symbolic dims, function types, dialect types.

Types are immutable and hashable. Parsing a type's text is memoised, so a 20k-op module with a
few hundred distinct types parses each one once.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from pimc.ir.symbolic import Dim, DimSyntaxError, dim_str, dims_equal, parse_dim, product


class Type:
    """Base of all IR types."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ElementType(Type):
    """A scalar element type; `bits` drives byte counts (the Op/B analysis depends on it)."""

    name: str
    bits: int
    kind: str  # "float" | "int" | "bool"

    def __str__(self) -> str:
        return self.name

    @property
    def is_float(self) -> bool:
        return self.kind == "float"


# i4 and i2 exist for packed quantised KV caches (KIVI-style int4/int2).
ELEMENT_TYPES: dict[str, ElementType] = {t.name: t for t in (
    ElementType("f16", 16, "float"), ElementType("bf16", 16, "float"),
    ElementType("f32", 32, "float"), ElementType("f64", 64, "float"),
    ElementType("i1", 1, "bool"), ElementType("i2", 2, "int"), ElementType("i4", 4, "int"),
    ElementType("i8", 8, "int"), ElementType("i16", 16, "int"), ElementType("i32", 32, "int"),
    ElementType("i64", 64, "int"),
)}
f16, bf16, f32, f64 = (ELEMENT_TYPES[n] for n in ("f16", "bf16", "f32", "f64"))
i1, i8, i32, i64 = (ELEMENT_TYPES[n] for n in ("i1", "i8", "i32", "i64"))


@dataclass(frozen=True, slots=True)
class TensorType(Type):
    shape: tuple[Dim, ...]
    element: ElementType
    _text: str | None = field(default=None, compare=False, repr=False)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> Dim:
        return product(self.shape)

    def with_shape(self, shape) -> TensorType:
        return TensorType(tuple(shape), self.element)

    def with_element(self, element: ElementType) -> TensorType:
        return TensorType(self.shape, element)

    def same_as(self, other: Type) -> bool:
        """Equal up to symbolic simplification ((2*(S+1)) equals (2*S+2))."""
        return isinstance(other, TensorType) and self.element == other.element and \
            self.rank == other.rank and all(map(dims_equal, self.shape, other.shape))

    def __str__(self) -> str:
        if self._text is None:
            dims = "".join(dim_str(d) + "x" for d in self.shape)
            object.__setattr__(self, "_text", f"tensor<{dims}{self.element}>")
        return self._text


@dataclass(frozen=True, slots=True)
class FunctionType(Type):
    inputs: tuple[Type, ...]
    results: tuple[Type, ...]

    def __str__(self) -> str:
        return f"({', '.join(map(str, self.inputs))}) -> {results_str(self.results)}"


@dataclass(frozen=True, slots=True)
class DialectType(Type):
    """`!dialect.name<params>`; params are attributes. Dialects register which names exist."""

    name: str  # "kv.cache"
    params: tuple = ()

    def __str__(self) -> str:
        inner = f"<{', '.join(map(str, self.params))}>" if self.params else ""
        return f"!{self.name}{inner}"


def results_str(types: tuple[Type, ...]) -> str:
    """Result types as MLIR prints them: bare when there is one non-function type."""
    if len(types) == 1 and not isinstance(types[0], FunctionType):
        return str(types[0])
    return f"({', '.join(map(str, types))})"


def same_type(a: Type, b: Type) -> bool:
    if isinstance(a, TensorType):
        return a.same_as(b)
    return a == b


class TypeSyntaxError(ValueError):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


@functools.cache
def parse_tensor_type(text: str) -> TensorType:
    """Parse `tensor<Bx(S+1)x128xf16>`; `text` must start with `tensor<` and end with `>`."""
    body, base = text[len("tensor<"):-1], len("tensor<")
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):  # split on 'x' outside parentheses
        depth += (ch == "(") - (ch == ")")
        if ch == "x" and depth == 0:
            parts.append(_stripped(body, start, i))
            start = i + 1
    elem_text, elem_at = _stripped(body, start, len(body))
    if elem_text not in ELEMENT_TYPES:
        raise TypeSyntaxError(f"unknown element type '{elem_text}' in '{text}'; valid: "
                              f"{', '.join(ELEMENT_TYPES)}", base + elem_at)
    shape = []
    for part, offset in parts:
        try:
            dim = parse_dim(part)
        except DimSyntaxError as e:
            raise TypeSyntaxError(str(e), base + offset + e.offset) from None
        if dim < 0 if isinstance(dim, int) else dim.is_negative:  # `-1` would not parse back
            raise TypeSyntaxError(f"dim '{part}' in '{text}' is negative", base + offset)
        shape.append(dim)
    return TensorType(tuple(shape), ELEMENT_TYPES[elem_text])


def _stripped(body: str, start: int, end: int) -> tuple[str, int]:
    """body[start:end] without surrounding blanks, and where it starts (for error offsets)."""
    part = body[start:end]
    return part.strip(), start + len(part) - len(part.lstrip())
