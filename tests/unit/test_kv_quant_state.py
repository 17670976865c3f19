"""kv-compress{method=quant} carries the KIVI cache as stored between steps: packed codes, scale,
zero and the residual buffer. Checked against numpy written here (not pimc's kernels): the
packing bit for bit, the stored tensors of a prefill, the dequantised values of every decode
step equal to the f32-state recurrence (quantise and dequantise the grown cache each step,
what the attention read before the state was packed), on one layer and on llama-tiny, under
the interpreter and numba-cpu; and the state's bytes are the packed size."""
import numpy as np
import pytest

import pimc
from pimc.backends.numba_cpu import kv_kernels
from pimc.errors import PimcError
from pimc.runtime import kv_ops
from pimc.runtime.interpreter import run
from test_kv_compress import B, HKV, HQ, MODULE, compressed, rand

D = 16


# ---- independent references ------------------------------------------------------------------

def ref_pack(levels, bits):
    """Byte j of a token holds channels j*per .. j*per+per-1, channel j*per+i times 2^(bits*i)."""
    per = 8 // bits
    grouped = levels.astype(np.int64).reshape(levels.shape[:-1] + (-1, per))
    weights = np.array([2 ** (bits * i) for i in range(per)], np.int64)
    return (grouped * weights).sum(-1).astype(np.uint8)


def ref_unpack(codes, bits):
    per = 8 // bits
    raw = codes.astype(np.int64) % 256  # int8 bytes read as unsigned
    parts = [(raw // 2 ** (bits * i)) % 2 ** bits for i in range(per)]
    return np.stack(parts, -1).reshape(codes.shape[:-1] + (-1,))


def kivi(x, bits, group, per_channel, residual):
    """KIVI min-max per group, as a loop: (levels, scale, zero) with scale and zero rounded to
    f32 and the levels from the unrounded f64 statistics; the residual tokens' levels and any
    group holding only residual tokens are 0."""
    b_, h_, n, d = x.shape
    q = max(n - residual, 0)
    levels = np.zeros(x.shape, np.int64)
    top = 2 ** bits - 1
    groups = -(-n // group) if per_channel else -(-d // group)
    stats = np.zeros((b_, h_, groups, d) if per_channel else (b_, h_, n, groups))
    scale, zero = stats.copy(), stats.copy()
    for b in range(b_):
        for h in range(h_):
            for g in range(groups):
                for c in range(d if per_channel else n):
                    rows, cols, at = ((slice(g * group, min(g * group + group, q)), slice(c, c + 1),
                                       (b, h, g, c)) if per_channel else
                                      (slice(c, c + 1) if c < q else slice(0, 0),
                                       slice(g * group, g * group + group), (b, h, c, g)))
                    blk = x[b, h, rows, cols].astype(np.float64)
                    if blk.size == 0:
                        continue
                    lo, hi = blk.min(), blk.max()
                    step = (hi - lo) / top
                    scale[at], zero[at] = step, lo
                    levels[b, h, rows, cols] = np.clip(np.rint((blk - lo) / (step or 1.0)), 0, top)
    return levels, scale.astype(np.float32), zero.astype(np.float32)


def expand(stats, per_channel, group, n, d):
    return np.repeat(stats, group, 2)[:, :, :n] if per_channel else \
        np.repeat(stats, group, 3)[..., :d]


def dequantised(levels, scale, zero, x_recent, per_channel, group):
    """levels * scale + zero in f64, rounded to f32; the last tokens from `x_recent`."""
    n, d = levels.shape[2:]
    out = (levels * expand(scale.astype(np.float64), per_channel, group, n, d) +
           expand(zero.astype(np.float64), per_channel, group, n, d)).astype(np.float32)
    kept = x_recent.shape[2]
    if kept:
        out[:, :, n - kept:] = x_recent
    return out


def kivi_roundtrip(x, bits, group, per_channel, residual):
    levels, scale, zero = kivi(x, bits, group, per_channel, residual)
    return dequantised(levels, scale, zero, x[:, :, x.shape[2] - min(residual, x.shape[2]):],
                       per_channel, group)


def stored_values(state, bits, group, per_channel, residual):
    """The f32 cache a stored KIVI cache (codes, scale, zero[, residual buffer]) holds."""
    codes, scale, zero = state[:3]
    n = codes.shape[2]
    kept = min(n, residual)
    recent = state[3][:, :, residual - kept:] if residual else codes[:, :, :0]
    return dequantised(ref_unpack(codes, bits), scale, zero, recent, per_channel, group)


# ---- packing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [8, 4, 2])
def test_pack_and_unpack_round_trip_bit_exactly(bits):
    levels = np.random.default_rng(bits).integers(0, 2 ** bits, (2, 3, 5, 16))
    packed = kv_ops.pack(levels, bits)
    assert packed.dtype == np.int8 and packed.shape == (2, 3, 5, 16 * bits // 8)
    assert np.array_equal(packed.view(np.uint8), ref_pack(levels, bits))
    assert np.array_equal(ref_unpack(packed, bits), levels)
    assert np.array_equal(kv_ops.unpack(ref_pack(levels, bits).view(np.int8), bits), levels)
    every = np.arange(256, dtype=np.uint8).view(np.int8)[:, None]  # every byte value
    assert np.array_equal(kv_ops.pack(kv_ops.unpack(every, bits), bits), every)


@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("axis", ["channel", "token"])
@pytest.mark.parametrize("n", [11, 2])  # a context shorter than the residual: all residual
def test_both_runtimes_store_kivi_exactly(bits, axis, n):
    x = rand(2, 2, n, D, seed=bits + n)
    per_channel = axis == "channel"
    levels, scale, zero = kivi(x, bits, 4, per_channel, 3)
    for impl in (kv_ops, kv_kernels):
        codes, s, z, buffer = impl.quantize(x, bits, 4, axis, 3)
        assert codes.dtype == np.int8 and codes.shape == (2, 2, n, D * bits // 8)
        assert np.array_equal(codes.view(np.uint8), ref_pack(levels, bits))
        assert np.array_equal(s, scale) and np.array_equal(z, zero)
        want_buffer = np.zeros((2, 2, 3, D), np.float32)
        want_buffer[:, :, 3 - min(n, 3):] = x[:, :, max(n - 3, 0):]
        assert np.array_equal(buffer, want_buffer)
        deq = impl.dequantize(codes, s, z, buffer, bits, 4, axis, 3)
        assert np.array_equal(deq, kivi_roundtrip(x, bits, 4, per_channel, 3))


# ---- one layer: prefill and decode steps --------------------------------------------------------

def numba_runner(module):
    from pimc.backends import registry
    exe = registry.get("numba-cpu").compile(module, None)
    return lambda func, inputs: exe.run(module, func, inputs)


@pytest.mark.parametrize("runtime", ["interpreter", "numba-cpu"])
@pytest.mark.parametrize("bits, group, window, prompt", [(4, 4, 3, 9), (2, 4, 3, 2), (8, 3, 0, 5)])
def test_decode_steps_see_the_f32_state_recurrence_exactly(runtime, bits, group, window, prompt):
    """The state is the stored cache; its dequantisation after every step equals the f32
    cache quantised and dequantised with the new token appended, step after step, and the
    attention reads exactly those values."""
    module = compressed(f"kv-compress{{method=quant,bits={bits},group={group},window={window}}}")
    call = (lambda f, x: run(module, f, x)) if runtime == "interpreter" else numba_runner(module)
    q, k, v = rand(B, HQ, prompt, D, seed=1), rand(B, HKV, prompt, D, seed=2), \
        rand(B, HKV, prompt, D, seed=3)
    _, *state = call("prefill", [q, k, v])
    width = 4 if window else 3
    past = {"k": kivi_roundtrip(k, bits, group, True, window),
            "v": kivi_roundtrip(v, bits, group, False, window)}
    for step in range(7):  # key groups fill and the residual moves on
        for i, (which, per_channel) in enumerate((("k", True), ("v", False))):
            got = stored_values(state[i * width:(i + 1) * width], bits, group, per_channel,
                                window)
            assert np.array_equal(got, past[which]), (which, step)
        q, kn, vn = rand(B, HQ, 1, D, seed=10 + step), rand(B, HKV, 1, D, seed=20 + step), \
            rand(B, HKV, 1, D, seed=30 + step)
        out, *state = call("decode", [q, kn, vn, *state])
        past = {"k": kivi_roundtrip(np.concatenate([past["k"], kn], 2), bits, group, True,
                                    window),
                "v": kivi_roundtrip(np.concatenate([past["v"], vn], 2), bits, group, False,
                                    window)}
        kg = np.repeat(past["k"], HQ // HKV, 1).astype(np.float64)
        vg = np.repeat(past["v"], HQ // HKV, 1).astype(np.float64)
        s = np.einsum("bhqd,bhnd->bhqn", q.astype(np.float64), kg) * 0.25
        p = np.exp(s - s.max(-1, keepdims=True))
        want = np.einsum("bhqn,bhnd->bhqd", p / p.sum(-1, keepdims=True), vg)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
        assert state[0].shape == (B, HKV, prompt + step + 1, D * bits // 8)


@pytest.mark.parametrize("runtime", ["interpreter", "numba-cpu"])
def test_after_an_eviction_the_kept_cache_is_stored_quantised(runtime):
    """l2norm then quant: the step's scores and attention read KIVI of the grown cache, it keeps
    the S keys of lowest norm (numpy here), and stores KIVI of what it kept."""
    bits, group, window = 2, 4, 1
    module = compressed("kv-compress{method=l2norm,ratio=0.5},"
                        f"kv-compress{{method=quant,bits={bits},group={group},window={window}}}")
    call = (lambda f, x: run(module, f, x)) if runtime == "interpreter" else numba_runner(module)
    q, k, v = rand(B, HQ, 8, D, seed=4), rand(B, HKV, 8, D, seed=5), rand(B, HKV, 8, D, seed=6)
    _, *state = call("prefill", [q, k, v])
    for step in range(4):
        past = [stored_values(state[4 * i:4 * i + 4], bits, group, i == 0, window) for i in (0, 1)]
        kn, vn = rand(B, HKV, 1, D, seed=40 + step), rand(B, HKV, 1, D, seed=50 + step)
        _, *state = call("decode", [rand(B, HQ, 1, D, seed=60 + step), kn, vn, *state])
        xk = kivi_roundtrip(np.concatenate([past[0], kn], 2), bits, group, True, window)
        xv = kivi_roundtrip(np.concatenate([past[1], vn], 2), bits, group, False, window)
        norms = np.sqrt((xk.astype(np.float64) ** 2).sum(-1)).astype(np.float32)
        kept = np.sort(np.argsort(norms, -1, kind="stable")[..., :4], -1)[..., None]
        for i, x in enumerate((xk, xv)):
            want = kivi_roundtrip(np.take_along_axis(x, kept, 2), bits, group, i == 0, window)
            got = stored_values(state[4 * i:4 * i + 4], bits, group, i == 0, window)
            assert np.array_equal(got, want), (step, i)


def test_a_head_dim_that_cannot_be_packed_is_a_one_line_error():
    text = MODULE.replace("x16xf32", "x6xf32")
    with pytest.raises(PimcError, match=r"option 'bits' \(2\) packs 4 codes to a byte along the "
                                        "head dim, which must be a static multiple of 4; layer 0 "
                                        "of @prefill has head dim 6") as info:
        compressed("kv-compress{method=quant,bits=2}", text)
    assert "\n" not in str(info.value)
    compressed("kv-compress{method=quant,bits=8,window=0}", text)  # a byte per code: any dim


# ---- llama-tiny (2 layers, 2 KV heads, head dim 16) --------------------------------------------

@pytest.fixture(scope="module")
def llama_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("kvq") / "llama.mlir"
    pimc.compile("llama-tiny", target=None, backend="null").save(path)
    return str(path)


@pytest.mark.parametrize("bits", [4, 2])
def test_llama_state_is_the_packed_cache_and_follows_the_recurrence(llama_path, bits):
    """Every array carried between steps: every layer's K, then every layer's V, each codes (packed: B*H*S*D*bits/8
    bytes), scale, zero, residual buffer. The new token is the residual's last row, so each
    step's stored cache must dequantise to KIVI of the previous one's with that row appended."""
    group, window, prompt = 4, 2, 10
    prog = pimc.compile(llama_path, target=None, backend="numba-cpu",
                        pipeline=f"kv-compress{{method=quant,bits={bits},group={group},"
                                 f"window={window}}}")
    ids = np.random.default_rng(7).integers(0, 256, (B, prompt))
    logits, *state = prog.run("prefill", ids, np.tile(np.arange(prompt), (B, 1)),
                              np.ones((B, prompt), np.int64))
    for step in range(4):
        s = prompt + step
        assert len(state) == 2 * 2 * 4
        for c in range(4):
            codes, scale, zero, buffer = state[4 * c:4 * c + 4]
            per_channel = c < 2  # keys
            assert codes.dtype == np.int8 and codes.nbytes == B * HKV * s * D * bits // 8
            assert scale.shape == zero.shape == ((B, HKV, -(-s // group), D) if per_channel
                                                 else (B, HKV, s, D // group))
            assert buffer.dtype == np.float32 and buffer.shape == (B, HKV, window, D)
        tok = logits[:, -1:].argmax(-1)
        logits, *new = prog.run("decode", tok, np.full((B, 1), s),
                                np.ones((B, s + 1), np.int64), *state)
        for c in range(4):
            per_channel = c < 2  # keys
            before = stored_values(state[4 * c:4 * c + 4], bits, group, per_channel, window)
            token = new[4 * c + 3][:, :, -1:]
            want = kivi_roundtrip(np.concatenate([before, token], 2), bits, group, per_channel,
                                  window)
            after = stored_values(new[4 * c:4 * c + 4], bits, group, per_channel, window)
            assert np.array_equal(after, want), (step, c)
        state = new
    s, f32 = prompt + 4, 4
    # K and V codes; K's scale and zero per channel per group of tokens; V's per token per
    # group of channels; K's and V's residual buffers
    per_layer = B * HKV * (2 * s * D * bits // 8 + 2 * f32 * -(-s // group) * D
                           + 2 * f32 * s * (D // group) + 2 * window * D * f32)
    assert sum(x.nbytes for x in state) == 2 * per_layer < 2 * 2 * B * HKV * s * D * f32


def test_generate_carries_the_packed_state_on_both_runtimes(llama_path):
    prog = pimc.compile(llama_path, target=None, backend="numba-cpu",
                        pipeline="kv-compress{method=quant,bits=2,group=4,window=2}")
    ids = np.random.default_rng(8).integers(0, 256, (B, 6))
    tokens = prog.generate(ids, 6)
    from pimc.runtime.generate import greedy
    assert np.array_equal(tokens, greedy(lambda f, *x: prog.interpret(f, *x), ids, 6))
