// kv-compress refuses, in one line naming the option or the function: a window larger than a
// static context, a sinks + window budget beyond it, a model without a KV cache (an encoder
// whose attention K/V are not returned), eviction after quantisation, and bad option values.
// RUN: not pimc opt --split-input-file %s -p 'kv-compress{method=snapkv,window=9}' 2>&1 | filecheck %s
// RUN: not pimc opt --split-input-file %s -p 'kv-compress{method=streaming}' 2>&1 | filecheck %s --check-prefix=METHOD
// RUN: not pimc opt --split-input-file %s -p 'kv-compress{method=h2o,ratio=1.5}' 2>&1 | filecheck %s --check-prefix=RATIO
// RUN: not pimc opt --split-input-file %s -p 'kv-compress{method=quant,bits=3}' 2>&1 | filecheck %s --check-prefix=BITS
// RUN: not pimc opt --split-input-file %s -p 'kv-compress{method=quant,window=0},kv-compress{method=l2norm}' 2>&1 | filecheck %s --check-prefix=ORDER

// METHOD: pimc: error: pass 'kv-compress': option 'method': unknown method 'streaming'; valid: l2norm, sink-window, h2o, snapkv, quant, think
// RATIO: pimc: error: pass 'kv-compress': option 'ratio' must be in [0, 1) (the evicted fraction; 0 = no compression), got 1.5
// BITS: pimc: error: pass 'kv-compress': option 'bits' must be one of 8, 4, 2, got 3

// An 8-token prompt: a 9-token observation window does not fit.
// CHECK: pimc: error: pass 'kv-compress': option 'window' (9) is larger than the 8-token context of layer 0 of @prefill
// ORDER: pimc: error: kv-compress: the cache of layer 0 of @prefill is already quantised; evict before method=quant
func.func @prefill(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {
  %a = "llm.attention"(%q, %k, %v) {causal = true} : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x4x8x16xf32>
  func.return %a, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
}
// -----
// An encoder: its attention's K/V are not results, so there is no cache to compress.
// CHECK: pimc: error: kv-compress: @forward has no KV cache: the keys of llm.attention #0 (no location) are not a result of the function, so there is no cache to compress (an encoder?); kv-compress needs a decoder's @prefill/@decode that return their caches
// ORDER: pimc: error: kv-compress: @forward has no KV cache
func.func @forward(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %a = "llm.attention"(%q, %k, %v) : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x4x8x16xf32>
  func.return %a : tensor<1x4x8x16xf32>
}
// -----
// No attention at all (not raised, or no attention in the model).
// CHECK: pimc: error: kv-compress: the module has no llm.attention over a KV cache (no @prefill/@decode returning its caches; an encoder, or attention not raised: run raise-llm-ops first)
func.func @prefill(%x: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  %y = "llm.silu"(%x) : (tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  func.return %y : tensor<1x8x16xf32>
}
