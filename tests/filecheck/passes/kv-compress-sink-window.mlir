// kv-compress{method=sink-window} (StreamingLLM, Xiao et al. 2024): kv.keep without scores keeps the
// `sinks` first tokens and the most recent rest. With window=W the prompt's cache is sinks + W
// tokens (StreamingLLM's cache size); without, T - floor(ratio*T). @decode evicts one token, the
// oldest after the sinks.
// One decoder layer as captured: @prefill returns the prompt's K/V; @decode appends the new
// token to the past cache (concat along the tokens) and returns the grown cache.
// RUN: pimc opt %s -p 'kv-compress{method=sink-window}' | filecheck %s
// RUN: pimc opt %s -p 'kv-compress{method=sink-window,sinks=2,window=6}' | filecheck %s --check-prefix=WIN

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

// kv-compress{method=sink-window}
// CHECK-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2x(T-T//2)x16xf32>)
// CHECK: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {evict = "sink-window", kept = #pimc.sym<"T-T//2">, ratio = 0.5}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// CHECK: %0 = "kv.keep"(%k) {count = #pimc.sym<"T-T//2">, largest = true, sinks = 4, window = 0} : (tensor<Bx2xTx16xf32>) -> tensor<Bx2x(T-T//2)xi64>
// CHECK: %1 = "kv.select"(%k, %0) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)xi64>) -> tensor<Bx2x(T-T//2)x16xf32>
// CHECK: %2 = "kv.select"(%v, %0) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)xi64>) -> tensor<Bx2x(T-T//2)x16xf32>
// CHECK: func.return %a, %1, %2 : tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2x(T-T//2)x16xf32>
// CHECK-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSx16xf32>)
// CHECK: %a = "llm.attention"(%q, %kc, %vc) {kv = {evict = "sink-window", kept = #pimc.sym<"S">, ratio = 0.5}, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// CHECK: %0 = "kv.keep"(%kc) {count = #pimc.sym<"S">, largest = true, sinks = 4, window = 0} : (tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx2xSxi64>
// CHECK: %1 = "kv.select"(%kc, %0) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// CHECK: %2 = "kv.select"(%vc, %0) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// CHECK: func.return %a, %1, %2 : tensor<Bx4x1x16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSx16xf32>

// kv-compress{method=sink-window,sinks=2,window=6}
// WIN-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2x8x16xf32>, tensor<Bx2x8x16xf32>)
// WIN: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {evict = "sink-window", kept = 8, ratio = 0.5}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// WIN: %0 = "kv.keep"(%k) {count = 8, largest = true, sinks = 2, window = 0} : (tensor<Bx2xTx16xf32>) -> tensor<Bx2x8xi64>
// WIN: %1 = "kv.select"(%k, %0) : (tensor<Bx2xTx16xf32>, tensor<Bx2x8xi64>) -> tensor<Bx2x8x16xf32>
// WIN: %2 = "kv.select"(%v, %0) : (tensor<Bx2xTx16xf32>, tensor<Bx2x8xi64>) -> tensor<Bx2x8x16xf32>
// WIN: func.return %a, %1, %2 : tensor<Bx4xTx16xf32>, tensor<Bx2x8x16xf32>, tensor<Bx2x8x16xf32>
// WIN-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSx16xf32>)
// WIN: %a = "llm.attention"(%q, %kc, %vc) {kv = {evict = "sink-window", kept = #pimc.sym<"S">, ratio = 0.5}, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// WIN: %0 = "kv.keep"(%kc) {count = #pimc.sym<"S">, largest = true, sinks = 2, window = 0} : (tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx2xSxi64>
// WIN: %1 = "kv.select"(%kc, %0) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// WIN: %2 = "kv.select"(%vc, %0) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// WIN: func.return %a, %1, %2 : tensor<Bx4x1x16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSx16xf32>
