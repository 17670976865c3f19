// kv-compress{pattern=...}: per-layer and per-head policies (DuoAttention, RazorAttention) on two
// decoder layers. `FC`: one letter per layer, cycled: layer 0 keeps its full cache, layer 1 is
// compressed; in @decode layer 1's past cache gets its own length S_KV (the prompt's budget) while
// layer 0's grows with S. `CF/F`: per-layer groups of one letter per KV head: layer 0 compresses
// KV head 0 and keeps head 1 whole, as two caches (full first, then kept) in place of the layer's
// one; @decode runs the layer's attention once per group, on the query heads of that group's KV
// heads (GQA: 2 per KV head), and kv.merge_heads puts the outputs back in head order.
// RUN: pimc opt %s -p 'kv-compress{method=sink-window,sinks=1,pattern=FC}' | filecheck %s
// RUN: pimc opt %s -p 'kv-compress{method=l2norm,pattern=CF/F}' | filecheck %s --check-prefix=HEADS

func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k0: tensor<Bx2xTx16xf32>, %v0: tensor<Bx2xTx16xf32>, %k1: tensor<Bx2xTx16xf32>, %v1: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) {
  %a0 = "llm.attention"(%q, %k0, %v0) {causal = true} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
  %a1 = "llm.attention"(%a0, %k1, %v1) {causal = true} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
  func.return %a1, %k0, %k1, %v0, %v1 : tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>
}
func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k0: tensor<Bx2xSx16xf32>, %k1: tensor<Bx2xSx16xf32>, %v0: tensor<Bx2xSx16xf32>, %v1: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) {
  %kc0 = "llm.concat"(%k0, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %vc0 = "llm.concat"(%v0, %vn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %a0 = "llm.attention"(%q, %kc0, %vc0) : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
  %kc1 = "llm.concat"(%k1, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %vc1 = "llm.concat"(%v1, %vn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %a1 = "llm.attention"(%a0, %kc1, %vc1) : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
  func.return %a1, %kc0, %kc1, %vc0, %vc1 : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>
}

// kv-compress{method=sink-window,sinks=1,pattern=FC}
// CHECK-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k0: tensor<Bx2xTx16xf32>, %v0: tensor<Bx2xTx16xf32>, %k1: tensor<Bx2xTx16xf32>, %v1: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>)
// CHECK: %a0 = "llm.attention"(%q, %k0, %v0) {causal = true} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// CHECK: %a1 = "llm.attention"(%a0, %k1, %v1) {causal = true, kv = {evict = "sink-window", kept = #pimc.sym<"T-T//2">, ratio = 0.5}} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// CHECK: %0 = "kv.keep"(%k1) {count = #pimc.sym<"T-T//2">, largest = true, sinks = 1, window = 0} : (tensor<Bx2xTx16xf32>) -> tensor<Bx2x(T-T//2)xi64>
// CHECK: %1 = "kv.select"(%k1, %0) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)xi64>) -> tensor<Bx2x(T-T//2)x16xf32>
// CHECK: %2 = "kv.select"(%v1, %0) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)xi64>) -> tensor<Bx2x(T-T//2)x16xf32>
// CHECK: func.return %a1, %k0, %1, %v0, %2 : tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>
// CHECK-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k0: tensor<Bx2xSx16xf32>, %k1: tensor<Bx2xS_KVx16xf32>, %v0: tensor<Bx2xSx16xf32>, %v1: tensor<Bx2xS_KVx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xS_KVx16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xS_KVx16xf32>)
// CHECK: %kc0 = "llm.concat"(%k0, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// CHECK: %vc0 = "llm.concat"(%v0, %vn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// CHECK: %a0 = "llm.attention"(%q, %kc0, %vc0) : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// CHECK: %kc1 = "llm.concat"(%k1, %kn) {axis = 2} : (tensor<Bx2xS_KVx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S_KV+1)x16xf32>
// CHECK: %vc1 = "llm.concat"(%v1, %vn) {axis = 2} : (tensor<Bx2xS_KVx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S_KV+1)x16xf32>
// CHECK: %a1 = "llm.attention"(%a0, %kc1, %vc1) {kv = {evict = "sink-window", kept = #pimc.sym<"S_KV">, ratio = 0.5}} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S_KV+1)x16xf32>, tensor<Bx2x(S_KV+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// CHECK: %0 = "kv.keep"(%kc1) {count = #pimc.sym<"S_KV">, largest = true, sinks = 1, window = 0} : (tensor<Bx2x(S_KV+1)x16xf32>) -> tensor<Bx2xS_KVxi64>
// CHECK: %1 = "kv.select"(%kc1, %0) : (tensor<Bx2x(S_KV+1)x16xf32>, tensor<Bx2xS_KVxi64>) -> tensor<Bx2xS_KVx16xf32>
// CHECK: %2 = "kv.select"(%vc1, %0) : (tensor<Bx2x(S_KV+1)x16xf32>, tensor<Bx2xS_KVxi64>) -> tensor<Bx2xS_KVx16xf32>
// CHECK: func.return %a1, %kc0, %1, %vc0, %2 : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xS_KVx16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xS_KVx16xf32>

// kv-compress{method=l2norm,pattern=CF/F}
// HEADS-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k0: tensor<Bx2xTx16xf32>, %v0: tensor<Bx2xTx16xf32>, %k1: tensor<Bx2xTx16xf32>, %v1: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx1xTx16xf32>, tensor<Bx1x(T-T//2)x16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx1xTx16xf32>, tensor<Bx1x(T-T//2)x16xf32>, tensor<Bx2xTx16xf32>)
// HEADS: %a0 = "llm.attention"(%q, %k0, %v0) {causal = true, kv = {compressed_heads = [0], evict = "l2norm", kept = #pimc.sym<"T-T//2">, ratio = 0.5}} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// HEADS: %0 = "kv.heads"(%k0) {heads = [1]} : (tensor<Bx2xTx16xf32>) -> tensor<Bx1xTx16xf32>
// HEADS: %1 = "kv.heads"(%k0) {heads = [0]} : (tensor<Bx2xTx16xf32>) -> tensor<Bx1xTx16xf32>
// HEADS: %2 = "kv.heads"(%v0) {heads = [1]} : (tensor<Bx2xTx16xf32>) -> tensor<Bx1xTx16xf32>
// HEADS: %3 = "kv.heads"(%v0) {heads = [0]} : (tensor<Bx2xTx16xf32>) -> tensor<Bx1xTx16xf32>
// HEADS: %4 = "kv.heads"(%q) {heads = [0, 1]} : (tensor<Bx4xTx16xf32>) -> tensor<Bx2xTx16xf32>
// HEADS: %5 = "kv.key_norm"(%1) : (tensor<Bx1xTx16xf32>) -> tensor<Bx1xTxf32>
// HEADS: %6 = "kv.keep"(%1, %5) {count = #pimc.sym<"T-T//2">, largest = false, sinks = 0, window = 0} : (tensor<Bx1xTx16xf32>, tensor<Bx1xTxf32>) -> tensor<Bx1x(T-T//2)xi64>
// HEADS: %7 = "kv.select"(%1, %6) : (tensor<Bx1xTx16xf32>, tensor<Bx1x(T-T//2)xi64>) -> tensor<Bx1x(T-T//2)x16xf32>
// HEADS: %8 = "kv.select"(%3, %6) : (tensor<Bx1xTx16xf32>, tensor<Bx1x(T-T//2)xi64>) -> tensor<Bx1x(T-T//2)x16xf32>
// HEADS: %a1 = "llm.attention"(%a0, %k1, %v1) {causal = true} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// HEADS: func.return %a1, %0, %7, %k1, %2, %8, %v1 : tensor<Bx4xTx16xf32>, tensor<Bx1xTx16xf32>, tensor<Bx1x(T-T//2)x16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx1xTx16xf32>, tensor<Bx1x(T-T//2)x16xf32>, tensor<Bx2xTx16xf32>
// HEADS-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k0_full: tensor<Bx1xSx16xf32>, %k0_kept: tensor<Bx1xS_KVx16xf32>, %k1: tensor<Bx2xSx16xf32>, %v0_full: tensor<Bx1xSx16xf32>, %v0_kept: tensor<Bx1xS_KVx16xf32>, %v1: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx1x(S+1)x16xf32>, tensor<Bx1xS_KVx16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx1x(S+1)x16xf32>, tensor<Bx1xS_KVx16xf32>, tensor<Bx2x(S+1)x16xf32>)
// HEADS: %0 = "kv.heads"(%kn) {heads = [1]} : (tensor<Bx2x1x16xf32>) -> tensor<Bx1x1x16xf32>
// HEADS: %1 = "llm.concat"(%k0_full, %0) {axis = 2} : (tensor<Bx1xSx16xf32>, tensor<Bx1x1x16xf32>) -> tensor<Bx1x(S+1)x16xf32>
// HEADS: %2 = "kv.heads"(%kn) {heads = [0]} : (tensor<Bx2x1x16xf32>) -> tensor<Bx1x1x16xf32>
// HEADS: %3 = "llm.concat"(%k0_kept, %2) {axis = 2} : (tensor<Bx1xS_KVx16xf32>, tensor<Bx1x1x16xf32>) -> tensor<Bx1x(S_KV+1)x16xf32>
// HEADS: %4 = "kv.heads"(%vn) {heads = [1]} : (tensor<Bx2x1x16xf32>) -> tensor<Bx1x1x16xf32>
// HEADS: %5 = "llm.concat"(%v0_full, %4) {axis = 2} : (tensor<Bx1xSx16xf32>, tensor<Bx1x1x16xf32>) -> tensor<Bx1x(S+1)x16xf32>
// HEADS: %6 = "kv.heads"(%vn) {heads = [0]} : (tensor<Bx2x1x16xf32>) -> tensor<Bx1x1x16xf32>
// HEADS: %7 = "llm.concat"(%v0_kept, %6) {axis = 2} : (tensor<Bx1xS_KVx16xf32>, tensor<Bx1x1x16xf32>) -> tensor<Bx1x(S_KV+1)x16xf32>
// HEADS: %8 = "kv.heads"(%q) {heads = [2, 3]} : (tensor<Bx4x1x16xf32>) -> tensor<Bx2x1x16xf32>
// HEADS: %9 = "llm.attention"(%8, %1, %5) {kv = {full_heads = [1]}} : (tensor<Bx2x1x16xf32>, tensor<Bx1x(S+1)x16xf32>, tensor<Bx1x(S+1)x16xf32>) -> tensor<Bx2x1x16xf32>
// HEADS: %10 = "kv.heads"(%q) {heads = [0, 1]} : (tensor<Bx4x1x16xf32>) -> tensor<Bx2x1x16xf32>
// HEADS: %11 = "llm.attention"(%10, %3, %7) {kv = {compressed_heads = [0], evict = "l2norm", kept = #pimc.sym<"S_KV">, ratio = 0.5}} : (tensor<Bx2x1x16xf32>, tensor<Bx1x(S_KV+1)x16xf32>, tensor<Bx1x(S_KV+1)x16xf32>) -> tensor<Bx2x1x16xf32>
// HEADS: %12 = "kv.key_norm"(%3) : (tensor<Bx1x(S_KV+1)x16xf32>) -> tensor<Bx1x(S_KV+1)xf32>
// HEADS: %13 = "kv.keep"(%3, %12) {count = #pimc.sym<"S_KV">, largest = false, sinks = 0, window = 0} : (tensor<Bx1x(S_KV+1)x16xf32>, tensor<Bx1x(S_KV+1)xf32>) -> tensor<Bx1xS_KVxi64>
// HEADS: %14 = "kv.select"(%3, %13) : (tensor<Bx1x(S_KV+1)x16xf32>, tensor<Bx1xS_KVxi64>) -> tensor<Bx1xS_KVx16xf32>
// HEADS: %15 = "kv.select"(%7, %13) : (tensor<Bx1x(S_KV+1)x16xf32>, tensor<Bx1xS_KVxi64>) -> tensor<Bx1xS_KVx16xf32>
// HEADS: %16 = "kv.merge_heads"(%9, %11) {heads = [2, 3]} : (tensor<Bx2x1x16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx4x1x16xf32>
// HEADS: %kc1 = "llm.concat"(%k1, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// HEADS: %vc1 = "llm.concat"(%v1, %vn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// HEADS: %a1 = "llm.attention"(%16, %kc1, %vc1) : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// HEADS: func.return %a1, %1, %14, %kc1, %5, %15, %vc1 : tensor<Bx4x1x16xf32>, tensor<Bx1x(S+1)x16xf32>, tensor<Bx1xS_KVx16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx1x(S+1)x16xf32>, tensor<Bx1xS_KVx16xf32>, tensor<Bx2x(S+1)x16xf32>
