"""Shape-rule helpers shared by the dialects' `infer` functions (all symbolic-dim aware)."""
from __future__ import annotations

from pimc.ir.opdef import OpInvalid, fail
from pimc.ir.symbolic import Dim, dim_str, dims_equal
from pimc.ir.types import ElementType, TensorType, Type

ORDINALS = ("first", "second", "third", "fourth", "fifth")


def tensor(t: Type, what: str, rank: int | None = None, min_rank: int = 0) -> TensorType:
    if not isinstance(t, TensorType):
        fail(f"{what} must be a tensor, found {t}")
    if rank is not None and t.rank != rank:
        fail(f"{what} must have rank {rank}, found {t}")
    if t.rank < min_rank:
        fail(f"{what} must have rank >= {min_rank}, found {t}")
    return t


def same_element(types: tuple[TensorType, ...], what: str = "operands") -> ElementType:
    elems = {t.element for t in types}
    if len(elems) > 1:
        fail(f"{what} must share an element type, found {', '.join(str(t) for t in types)}")
    return types[0].element


def require_float(t: TensorType, what: str) -> None:
    if not t.element.is_float:
        fail(f"{what} must have a float element type, found {t}")


def require_int(t: TensorType, what: str) -> None:
    if t.element.kind != "int":
        fail(f"{what} must have an integer element type, found {t}")


def dim_eq(a: Dim, b: Dim, what: str) -> None:
    if not dims_equal(a, b):
        fail(f"{what}: {dim_str(a)} != {dim_str(b)}")


def broadcast_shapes(a: tuple[Dim, ...], b: tuple[Dim, ...]) -> tuple[Dim, ...]:
    """NumPy broadcasting over symbolic dims: equal, or one side is 1."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == 1:
            out.append(y)
        elif y == 1 or dims_equal(x, y):
            out.append(x)
        else:
            fail(f"shapes {_shape(a)} and {_shape(b)} do not broadcast "
                 f"(dim {-i}: {dim_str(x)} vs {dim_str(y)})")
    return tuple(reversed(out))


def broadcasts_to(src: tuple[Dim, ...], dst: tuple[Dim, ...], what: str) -> None:
    try:
        ok = len(src) <= len(dst) and dims_equal_tuple(broadcast_shapes(src, dst), dst)
    except OpInvalid:  # broadcast_shapes' own message would not say which operand is wrong
        ok = False
    if not ok:
        fail(f"{what} of shape {_shape(src)} does not broadcast to {_shape(dst)}")


def dims_equal_tuple(a: tuple[Dim, ...], b: tuple[Dim, ...]) -> bool:
    return len(a) == len(b) and all(map(dims_equal, a, b))


def norm_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        fail(f"{what} {axis} is out of range for rank {rank} (allowed {-rank}..{rank - 1})")
    return axis % rank if rank else 0


def _shape(shape: tuple[Dim, ...]) -> str:
    return "[" + ", ".join(map(dim_str, shape)) + "]"
