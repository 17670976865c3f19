"""A GGUF file as pimc reads it: metadata, the tensor table, and each tensor's bytes as stored.

GGUF (llama.cpp's file format, spec: ggml-org/ggml docs/gguf.md) is little-endian: the magic
`GGUF`, a version (2 or 3), the tensor and metadata counts (u64), the metadata key/value pairs,
then one record per tensor (name, dims fastest-moving first, ggml type, offset into the data
section), then the data section at the next multiple of `general.alignment` (32 by default).

pimc parses the header itself, rather than through `gguf.GGUFReader`, for two reasons: a broken
file gets one line naming the path, the byte and what was expected there; and a tokenizer's
string arrays (49,152 tokens and as many merges in SmolLM2) are skipped unless asked for, which
reads SmolLM2's header in milliseconds instead of the seconds GGUFReader spends building a field
per string. The tensor data stays a read-only memory map until a tensor is dequantised
(`gguf.quants.dequantize`, the llama.cpp project's numpy reference for every block format).
"""
from __future__ import annotations

import struct
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pimc.errors import PimcError

MAGIC, VERSIONS, DEFAULT_ALIGNMENT = b"GGUF", (2, 3), 32
# metadata value types (gguf.md "gguf_metadata_value_type"): fixed-width scalars by struct code
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
            11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class GGUFError(PimcError):
    """A file that is not a readable GGUF: names the path, the byte offset and what was wrong."""


@dataclass(frozen=True)
class TensorRecord:
    """One tensor of the file: its name, numpy-order shape, ggml type and where its bytes are."""

    name: str
    shape: tuple[int, ...]  # slowest-moving first, as numpy and torch order it
    ggml_type: int
    start: int  # absolute byte offset in the file
    nbytes: int

    @property
    def type_name(self) -> str:
        from gguf.constants import GGMLQuantizationType
        return GGMLQuantizationType(self.ggml_type).name


class GGUFFile:
    """The parsed header of `path`; `tensor(name)` dequantises one tensor to float32."""

    def __init__(self, path: str | Path, string_arrays: Container[str] = ()):
        self.path = Path(path)
        if not self.path.is_file():
            raise GGUFError(f"cannot read '{self.path}': no such file")
        self.blob = np.memmap(self.path, mode="r", dtype=np.uint8)
        self._reader = _Cursor(self.blob, str(self.path))
        self.metadata = self._reader.header(string_arrays)
        self.tensors = self._reader.tensor_table(self.metadata)

    @property
    def architecture(self) -> str:
        return self.metadata["general.architecture"]

    def record(self, name: str) -> TensorRecord:
        if name not in self.tensors:
            raise GGUFError(f"{self.path}: no tensor '{name}'")
        return self.tensors[name]

    def raw(self, name: str) -> np.ndarray:
        """The tensor's bytes as stored (blocks for a quantised type), read-only."""
        rec = self.record(name)
        return self.blob[rec.start:rec.start + rec.nbytes]

    def tensor(self, name: str) -> np.ndarray:
        """The tensor as float32 in numpy order."""
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
        from gguf.quants import dequantize
        rec = self.record(name)
        qtype = GGMLQuantizationType(rec.ggml_type)
        block, size = GGML_QUANT_SIZES[qtype]
        rows = self.raw(name).reshape(*rec.shape[:-1], rec.shape[-1] // block * size)
        if qtype == GGMLQuantizationType.F32:
            return np.array(rows.view(np.float32).reshape(rec.shape))
        return dequantize(rows, qtype).astype(np.float32, copy=False).reshape(rec.shape)


class _Cursor:
    """Reads the header front to back, naming the byte of any malformed field."""

    def __init__(self, blob: np.ndarray, path: str):
        self.blob, self.path, self.pos = blob, path, 0

    def fail(self, what: str) -> GGUFError:
        return GGUFError(f"{self.path}: byte {self.pos}: {what}")

    def take(self, fmt: str, what: str):
        width = struct.calcsize(fmt)
        if self.pos + width > self.blob.size:
            raise self.fail(f"the file ends ({self.blob.size} bytes) inside {what}")
        values = struct.unpack_from(fmt, self.blob, self.pos)
        self.pos += width
        return values if len(values) > 1 else values[0]

    def string(self, what: str, keep: bool = True) -> str | None:
        length = self.take("<Q", f"the length of {what}")
        if self.pos + length > self.blob.size:
            raise self.fail(f"{what} is {length} bytes long, past the end of the file "
                            f"({self.blob.size} bytes)")
        start, self.pos = self.pos, self.pos + length
        if not keep:
            return None
        try:
            return bytes(self.blob[start:self.pos]).decode("utf-8")
        except UnicodeDecodeError:
            self.pos = start
            raise self.fail(f"{what} is not UTF-8") from None

    def header(self, string_arrays: Container[str]) -> dict:
        if self.blob.size < 4 or bytes(self.blob[:4]) != MAGIC:
            raise self.fail(f"not a GGUF file: it does not start with the magic bytes {MAGIC!r}")
        self.pos = 4
        version = self.take("<I", "the version")
        if version not in VERSIONS:
            self.pos -= 4
            raise self.fail(f"GGUF version {version}; pimc reads versions "
                            f"{', '.join(map(str, VERSIONS))}")
        self.tensor_count, kv_count = self.take("<QQ", "the tensor and metadata counts")
        metadata = {}
        for index in range(kv_count):
            key = self.string(f"metadata key {index}")
            metadata[key] = self.value(key, self.take("<I", f"the type of '{key}'"),
                                       key in string_arrays)
        if "general.architecture" not in metadata:
            raise self.fail("the metadata has no 'general.architecture'")
        return metadata

    def value(self, key: str, kind: int, keep_strings: bool):
        if kind in _SCALARS:
            return self.take(_SCALARS[kind], f"the value of '{key}'")
        if kind == _STRING:
            return self.string(f"the value of '{key}'")
        if kind != _ARRAY:
            self.pos -= 4
            raise self.fail(f"'{key}' has value type {kind}; GGUF defines 0-12")
        element, count = self.take("<IQ", f"the array header of '{key}'")
        if element in _SCALARS:
            values = self.take(f"<{count}{_SCALARS[element][1]}", f"the values of '{key}'") \
                if count else ()  # an empty array has no bytes to read
            return list(values) if isinstance(values, tuple) else [values]
        if element != _STRING:
            raise self.fail(f"'{key}' is an array of type {element}; pimc reads arrays of "
                            "scalars and strings")
        # a tokenizer's vocabulary: kept only when asked for, otherwise walked and counted
        items = [self.string(f"item {i} of '{key}'", keep_strings) for i in range(count)]
        return items if keep_strings else count

    def tensor_table(self, metadata: dict) -> dict[str, TensorRecord]:
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
        table = []
        for index in range(self.tensor_count):
            name = self.string(f"the name of tensor {index}")
            n_dims = self.take("<I", f"the rank of tensor '{name}'")
            dims = self.take(f"<{n_dims}Q", f"the dims of tensor '{name}'") if n_dims else ()
            dims = (dims,) if isinstance(dims, int) else dims
            kind = self.take("<I", f"the type of tensor '{name}'")
            if kind not in GGMLQuantizationType._value2member_map_:
                self.pos -= 4
                raise self.fail(f"tensor '{name}' has ggml type {kind}, which gguf "
                                f"{_gguf_version()} does not define")
            block, size = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
            if dims and dims[0] % block:
                raise self.fail(f"tensor '{name}': its row of {dims[0]} is not a whole number "
                                f"of {GGMLQuantizationType(kind).name} blocks of {block}")
            offset = self.take("<Q", f"the offset of tensor '{name}'")
            elements = int(np.prod(dims, dtype=np.int64)) if dims else 1
            table.append((name, tuple(reversed(dims)), kind, offset, elements // block * size))
        alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        data = -(-self.pos // alignment) * alignment
        records = {}
        for name, shape, kind, offset, nbytes in table:
            if offset % alignment or data + offset + nbytes > self.blob.size:
                raise GGUFError(f"{self.path}: tensor '{name}': its {nbytes} bytes at data offset "
                                f"{offset} lie outside the file ({self.blob.size} bytes, data "
                                f"from byte {data}, alignment {alignment})")
            records[name] = TensorRecord(name, shape, kind, data + offset, nbytes)
        return records


def _gguf_version() -> str:
    from importlib.metadata import version
    return version("gguf")
