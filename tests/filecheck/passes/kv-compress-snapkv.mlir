// kv-compress{method=snapkv} (SnapKV, Li et al. 2024): scores are the attention of the last
// `window` prompt queries (the observation window, always kept), average-pooled with kernel
// `pool`. Prefill only: @decode appends and evicts nothing.
// One decoder layer as captured: @prefill returns the prompt's K/V; @decode appends the new
// token to the past cache (concat along the tokens) and returns the grown cache.
// RUN: pimc opt %s -p 'kv-compress{method=snapkv,window=4}' | filecheck %s
// RUN: pimc opt %s -p 'kv-compress{method=snapkv,ratio=0.25,window=2,pool=1}' | filecheck %s --check-prefix=NOPOOL

func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) {
  %a = "llm.attention"(%q, %k, %v) {causal = true, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
  func.return %a, %k, %v : tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>
}
func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) {
  %kc = "llm.concat"(%k, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %vc = "llm.concat"(%v, %vn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %a = "llm.attention"(%q, %kc, %vc) {scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
  func.return %a, %kc, %vc : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>
}

// kv-compress{method=snapkv,window=4}
// CHECK-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2x(T-T//2)x16xf32>)
// CHECK: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {evict = "snapkv", kept = #pimc.sym<"T-T//2">, ratio = 0.5}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// CHECK: %0 = "kv.attention_score"(%q, %k) {pool = 5, scale = 0.25, window = 4} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx2xTxf32>
// CHECK: %1 = "kv.keep"(%k, %0) {count = #pimc.sym<"T-T//2">, largest = true, sinks = 0, window = 4} : (tensor<Bx2xTx16xf32>, tensor<Bx2xTxf32>) -> tensor<Bx2x(T-T//2)xi64>
// CHECK: %2 = "kv.select"(%k, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)xi64>) -> tensor<Bx2x(T-T//2)x16xf32>
// CHECK: %3 = "kv.select"(%v, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)xi64>) -> tensor<Bx2x(T-T//2)x16xf32>
// CHECK: func.return %a, %2, %3 : tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2x(T-T//2)x16xf32>
// CHECK-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>)
// CHECK-NOT: "kv.
// CHECK: %a = "llm.attention"(%q, %kc, %vc) {scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// CHECK: func.return %a, %kc, %vc : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>

// kv-compress{method=snapkv,ratio=0.25,window=2,pool=1}
// NOPOOL-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//4)x16xf32>, tensor<Bx2x(T-T//4)x16xf32>)
// NOPOOL: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {evict = "snapkv", kept = #pimc.sym<"T-T//4">, ratio = 0.25}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// NOPOOL: %0 = "kv.attention_score"(%q, %k) {pool = 1, scale = 0.25, window = 2} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx2xTxf32>
// NOPOOL: %1 = "kv.keep"(%k, %0) {count = #pimc.sym<"T-T//4">, largest = true, sinks = 0, window = 2} : (tensor<Bx2xTx16xf32>, tensor<Bx2xTxf32>) -> tensor<Bx2x(T-T//4)xi64>
// NOPOOL: %2 = "kv.select"(%k, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//4)xi64>) -> tensor<Bx2x(T-T//4)x16xf32>
// NOPOOL: %3 = "kv.select"(%v, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//4)xi64>) -> tensor<Bx2x(T-T//4)x16xf32>
// NOPOOL: func.return %a, %2, %3 : tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//4)x16xf32>, tensor<Bx2x(T-T//4)x16xf32>
// NOPOOL-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>)
// NOPOOL-NOT: "kv.
// NOPOOL: %a = "llm.attention"(%q, %kc, %vc) {scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// NOPOOL: func.return %a, %kc, %vc : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>
