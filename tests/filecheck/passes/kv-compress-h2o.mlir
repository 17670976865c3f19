// kv-compress{method=h2o} (H2O, Zhang et al. 2023): heavy hitters by accumulated attention
// probability plus a recent window (default: half the kept budget). The accumulator is state:
// @prefill returns the kept scores after its caches; @decode takes them as %h2o_scores_0 and adds
// its own query's attention before evicting one token.
// One decoder layer as captured: @prefill returns the prompt's K/V; @decode appends the new
// token to the past cache (concat along the tokens) and returns the grown cache.
// RUN: pimc opt %s -p 'kv-compress{method=h2o}' | filecheck %s
// RUN: pimc opt %s -p 'kv-compress{method=h2o,ratio=0.75,window=4,sinks=1}' | filecheck %s --check-prefix=OPTS

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

// kv-compress{method=h2o}
// CHECK-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2x(T-T//2)xf32>)
// CHECK: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {evict = "h2o", kept = #pimc.sym<"T-T//2">, ratio = 0.5}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// CHECK: %0 = "kv.attention_score"(%q, %k) {scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx2xTxf32>
// CHECK: %1 = "kv.keep"(%k, %0) {count = #pimc.sym<"T-T//2">, largest = true, sinks = 0, window = #pimc.sym<"(T-T//2)//2">} : (tensor<Bx2xTx16xf32>, tensor<Bx2xTxf32>) -> tensor<Bx2x(T-T//2)xi64>
// CHECK: %2 = "kv.select"(%k, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)xi64>) -> tensor<Bx2x(T-T//2)x16xf32>
// CHECK: %3 = "kv.select"(%v, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)xi64>) -> tensor<Bx2x(T-T//2)x16xf32>
// CHECK: %4 = "kv.select"(%0, %1) : (tensor<Bx2xTxf32>, tensor<Bx2x(T-T//2)xi64>) -> tensor<Bx2x(T-T//2)xf32>
// CHECK: func.return %a, %2, %3, %4 : tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2x(T-T//2)xf32>
// CHECK-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>, %h2o_scores_0: tensor<Bx2xSxf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSxf32>)
// CHECK: %a = "llm.attention"(%q, %kc, %vc) {kv = {evict = "h2o", kept = #pimc.sym<"S">, ratio = 0.5}, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// CHECK: %0 = "kv.attention_score"(%q, %kc, %h2o_scores_0) {scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxf32>) -> tensor<Bx2x(S+1)xf32>
// CHECK: %1 = "kv.keep"(%kc, %0) {count = #pimc.sym<"S">, largest = true, sinks = 0, window = #pimc.sym<"S//2">} : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)xf32>) -> tensor<Bx2xSxi64>
// CHECK: %2 = "kv.select"(%kc, %1) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// CHECK: %3 = "kv.select"(%vc, %1) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// CHECK: %4 = "kv.select"(%0, %1) : (tensor<Bx2x(S+1)xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSxf32>
// CHECK: func.return %a, %2, %3, %4 : tensor<Bx4x1x16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSxf32>

// kv-compress{method=h2o,ratio=0.75,window=4,sinks=1}
// OPTS-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2x(T-(3*T)//4)x16xf32>, tensor<Bx2x(T-(3*T)//4)x16xf32>, tensor<Bx2x(T-(3*T)//4)xf32>)
// OPTS: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {evict = "h2o", kept = #pimc.sym<"T-(3*T)//4">, ratio = 0.75}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// OPTS: %0 = "kv.attention_score"(%q, %k) {scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx2xTxf32>
// OPTS: %1 = "kv.keep"(%k, %0) {count = #pimc.sym<"T-(3*T)//4">, largest = true, sinks = 1, window = 4} : (tensor<Bx2xTx16xf32>, tensor<Bx2xTxf32>) -> tensor<Bx2x(T-(3*T)//4)xi64>
// OPTS: %2 = "kv.select"(%k, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-(3*T)//4)xi64>) -> tensor<Bx2x(T-(3*T)//4)x16xf32>
// OPTS: %3 = "kv.select"(%v, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-(3*T)//4)xi64>) -> tensor<Bx2x(T-(3*T)//4)x16xf32>
// OPTS: %4 = "kv.select"(%0, %1) : (tensor<Bx2xTxf32>, tensor<Bx2x(T-(3*T)//4)xi64>) -> tensor<Bx2x(T-(3*T)//4)xf32>
// OPTS: func.return %a, %2, %3, %4 : tensor<Bx4xTx16xf32>, tensor<Bx2x(T-(3*T)//4)x16xf32>, tensor<Bx2x(T-(3*T)//4)x16xf32>, tensor<Bx2x(T-(3*T)//4)xf32>
// OPTS-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>, %h2o_scores_0: tensor<Bx2xSxf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSxf32>)
// OPTS: %a = "llm.attention"(%q, %kc, %vc) {kv = {evict = "h2o", kept = #pimc.sym<"S">, ratio = 0.75}, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// OPTS: %0 = "kv.attention_score"(%q, %kc, %h2o_scores_0) {scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxf32>) -> tensor<Bx2x(S+1)xf32>
// OPTS: %1 = "kv.keep"(%kc, %0) {count = #pimc.sym<"S">, largest = true, sinks = 1, window = 4} : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)xf32>) -> tensor<Bx2xSxi64>
// OPTS: %2 = "kv.select"(%kc, %1) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// OPTS: %3 = "kv.select"(%vc, %1) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// OPTS: %4 = "kv.select"(%0, %1) : (tensor<Bx2x(S+1)xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSxf32>
// OPTS: func.return %a, %2, %3, %4 : tensor<Bx4x1x16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSxf32>
