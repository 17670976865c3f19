// kv-compress{method=l2norm} (Devoto et al. 2024): keep the keys with the LOWEST L2 norm.
// One decoder layer as captured: @prefill returns the prompt's K/V; @decode appends the new
// token to the past cache (concat along the tokens) and returns the grown cache.
// ratio=0.5: @prefill keeps T - floor(T/2) prompt tokens; @decode attends over S + 1, then evicts
// one (the budget stays S). ratio=0 keeps everything (identity kv ops). Eviction then KIVI
// quantisation: @prefill quantises what it keeps; @decode's attention and scores read the
// dequantised grown cache, and the kept cache is stored quantised (codes, scale, zero, residual
// buffer: the state). pattern=F leaves the (only) layer alone.
// RUN: pimc opt %s -p 'kv-compress{method=l2norm}' | filecheck %s
// RUN: pimc opt %s -p 'kv-compress{method=l2norm,ratio=0}' | filecheck %s --check-prefix=ZERO
// RUN: pimc opt %s -p 'kv-compress{method=l2norm,ratio=0.25},kv-compress{method=quant,bits=4,group=4,window=2}' | filecheck %s --check-prefix=BOTH

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

// kv-compress{method=l2norm}
// CHECK-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2x(T-T//2)x16xf32>)
// CHECK: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {evict = "l2norm", kept = #pimc.sym<"T-T//2">, ratio = 0.5}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// CHECK: %0 = "kv.key_norm"(%k) : (tensor<Bx2xTx16xf32>) -> tensor<Bx2xTxf32>
// CHECK: %1 = "kv.keep"(%k, %0) {count = #pimc.sym<"T-T//2">, largest = false, sinks = 0, window = 0} : (tensor<Bx2xTx16xf32>, tensor<Bx2xTxf32>) -> tensor<Bx2x(T-T//2)xi64>
// CHECK: %2 = "kv.select"(%k, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)xi64>) -> tensor<Bx2x(T-T//2)x16xf32>
// CHECK: %3 = "kv.select"(%v, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//2)xi64>) -> tensor<Bx2x(T-T//2)x16xf32>
// CHECK: func.return %a, %2, %3 : tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//2)x16xf32>, tensor<Bx2x(T-T//2)x16xf32>
// CHECK-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSx16xf32>)
// CHECK: %a = "llm.attention"(%q, %kc, %vc) {kv = {evict = "l2norm", kept = #pimc.sym<"S">, ratio = 0.5}, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// CHECK: %0 = "kv.key_norm"(%kc) : (tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx2x(S+1)xf32>
// CHECK: %1 = "kv.keep"(%kc, %0) {count = #pimc.sym<"S">, largest = false, sinks = 0, window = 0} : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)xf32>) -> tensor<Bx2xSxi64>
// CHECK: %2 = "kv.select"(%kc, %1) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// CHECK: %3 = "kv.select"(%vc, %1) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// CHECK: func.return %a, %2, %3 : tensor<Bx4x1x16xf32>, tensor<Bx2xSx16xf32>, tensor<Bx2xSx16xf32>

// kv-compress{method=l2norm,ratio=0}
// ZERO-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>)
// ZERO: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {evict = "l2norm", kept = #pimc.sym<"T">, ratio = 0.0}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// ZERO: %0 = "kv.key_norm"(%k) : (tensor<Bx2xTx16xf32>) -> tensor<Bx2xTxf32>
// ZERO: %1 = "kv.keep"(%k, %0) {count = #pimc.sym<"T">, largest = false, sinks = 0, window = 0} : (tensor<Bx2xTx16xf32>, tensor<Bx2xTxf32>) -> tensor<Bx2xTxi64>
// ZERO: %2 = "kv.select"(%k, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2xTxi64>) -> tensor<Bx2xTx16xf32>
// ZERO: %3 = "kv.select"(%v, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2xTxi64>) -> tensor<Bx2xTx16xf32>
// ZERO: func.return %a, %2, %3 : tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>
// ZERO-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>)
// ZERO: %a = "llm.attention"(%q, %kc, %vc) {kv = {evict = "l2norm", kept = #pimc.sym<"S+1">, ratio = 0.0}, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// ZERO: %0 = "kv.key_norm"(%kc) : (tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx2x(S+1)xf32>
// ZERO: %1 = "kv.keep"(%kc, %0) {count = #pimc.sym<"S+1">, largest = false, sinks = 0, window = 0} : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)xf32>) -> tensor<Bx2x(S+1)xi64>
// ZERO: %2 = "kv.select"(%kc, %1) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)xi64>) -> tensor<Bx2x(S+1)x16xf32>
// ZERO: %3 = "kv.select"(%vc, %1) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)xi64>) -> tensor<Bx2x(S+1)x16xf32>
// ZERO: func.return %a, %2, %3 : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>

// kv-compress{method=l2norm,ratio=0.25},kv-compress{method=quant,bits=4,group=4,window=2}
// BOTH-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//4)x8xi8>, tensor<Bx2x((T-T//4+3)//4)x16xf32>, tensor<Bx2x((T-T//4+3)//4)x16xf32>, tensor<Bx2x2x16xf32>, tensor<Bx2x(T-T//4)x8xi8>, tensor<Bx2x(T-T//4)x4xf32>, tensor<Bx2x(T-T//4)x4xf32>, tensor<Bx2x2x16xf32>)
// BOTH: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {bits = 4, evict = "l2norm", group = 4, kept = #pimc.sym<"T-T//4">, ratio = 0.25, residual = 2}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// BOTH: %0 = "kv.key_norm"(%k) : (tensor<Bx2xTx16xf32>) -> tensor<Bx2xTxf32>
// BOTH: %1 = "kv.keep"(%k, %0) {count = #pimc.sym<"T-T//4">, largest = false, sinks = 0, window = 0} : (tensor<Bx2xTx16xf32>, tensor<Bx2xTxf32>) -> tensor<Bx2x(T-T//4)xi64>
// BOTH: %2 = "kv.select"(%k, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//4)xi64>) -> tensor<Bx2x(T-T//4)x16xf32>
// BOTH: %3 = "kv.select"(%v, %1) : (tensor<Bx2xTx16xf32>, tensor<Bx2x(T-T//4)xi64>) -> tensor<Bx2x(T-T//4)x16xf32>
// BOTH: %4, %5, %6, %7 = "kv.quantize"(%2) {axis = "channel", bits = 4, group = 4, residual = 2} : (tensor<Bx2x(T-T//4)x16xf32>) -> (tensor<Bx2x(T-T//4)x8xi8>, tensor<Bx2x((T-T//4+3)//4)x16xf32>, tensor<Bx2x((T-T//4+3)//4)x16xf32>, tensor<Bx2x2x16xf32>)
// BOTH: %8, %9, %10, %11 = "kv.quantize"(%3) {axis = "token", bits = 4, group = 4, residual = 2} : (tensor<Bx2x(T-T//4)x16xf32>) -> (tensor<Bx2x(T-T//4)x8xi8>, tensor<Bx2x(T-T//4)x4xf32>, tensor<Bx2x(T-T//4)x4xf32>, tensor<Bx2x2x16xf32>)
// BOTH: func.return %a, %4, %5, %6, %7, %8, %9, %10, %11 : tensor<Bx4xTx16xf32>, tensor<Bx2x(T-T//4)x8xi8>, tensor<Bx2x((T-T//4+3)//4)x16xf32>, tensor<Bx2x((T-T//4+3)//4)x16xf32>, tensor<Bx2x2x16xf32>, tensor<Bx2x(T-T//4)x8xi8>, tensor<Bx2x(T-T//4)x4xf32>, tensor<Bx2x(T-T//4)x4xf32>, tensor<Bx2x2x16xf32>
// BOTH-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k_codes: tensor<Bx2xSx8xi8>, %k_scale: tensor<Bx2x((S+3)//4)x16xf32>, %k_zero: tensor<Bx2x((S+3)//4)x16xf32>, %k_residual: tensor<Bx2x2x16xf32>, %v_codes: tensor<Bx2xSx8xi8>, %v_scale: tensor<Bx2xSx4xf32>, %v_zero: tensor<Bx2xSx4xf32>, %v_residual: tensor<Bx2x2x16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2xSx8xi8>, tensor<Bx2x((S+3)//4)x16xf32>, tensor<Bx2x((S+3)//4)x16xf32>, tensor<Bx2x2x16xf32>, tensor<Bx2xSx8xi8>, tensor<Bx2xSx4xf32>, tensor<Bx2xSx4xf32>, tensor<Bx2x2x16xf32>)
// BOTH: %0 = "kv.dequantize"(%k_codes, %k_scale, %k_zero, %k_residual) {axis = "channel", bits = 4, group = 4, residual = 2} : (tensor<Bx2xSx8xi8>, tensor<Bx2x((S+3)//4)x16xf32>, tensor<Bx2x((S+3)//4)x16xf32>, tensor<Bx2x2x16xf32>) -> tensor<Bx2xSx16xf32>
// BOTH: %kc = "llm.concat"(%0, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// BOTH: %1 = "kv.dequantize"(%v_codes, %v_scale, %v_zero, %v_residual) {axis = "token", bits = 4, group = 4, residual = 2} : (tensor<Bx2xSx8xi8>, tensor<Bx2xSx4xf32>, tensor<Bx2xSx4xf32>, tensor<Bx2x2x16xf32>) -> tensor<Bx2xSx16xf32>
// BOTH: %vc = "llm.concat"(%1, %vn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// BOTH: %2, %3, %4, %5 = "kv.quantize"(%kc) {axis = "channel", bits = 4, group = 4, residual = 2} : (tensor<Bx2x(S+1)x16xf32>) -> (tensor<Bx2x(S+1)x8xi8>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x2x16xf32>)
// BOTH: %6 = "kv.dequantize"(%2, %3, %4, %5) {axis = "channel", bits = 4, group = 4, residual = 2} : (tensor<Bx2x(S+1)x8xi8>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x2x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// BOTH: %7, %8, %9, %10 = "kv.quantize"(%vc) {axis = "token", bits = 4, group = 4, residual = 2} : (tensor<Bx2x(S+1)x16xf32>) -> (tensor<Bx2x(S+1)x8xi8>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x2x16xf32>)
// BOTH: %11 = "kv.dequantize"(%7, %8, %9, %10) {axis = "token", bits = 4, group = 4, residual = 2} : (tensor<Bx2x(S+1)x8xi8>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x2x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// BOTH: %a = "llm.attention"(%q, %6, %11) {kv = {bits = 4, evict = "l2norm", group = 4, kept = #pimc.sym<"S">, ratio = 0.25, residual = 2}, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// BOTH: %12 = "kv.key_norm"(%6) : (tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx2x(S+1)xf32>
// BOTH: %13 = "kv.keep"(%6, %12) {count = #pimc.sym<"S">, largest = false, sinks = 0, window = 0} : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)xf32>) -> tensor<Bx2xSxi64>
// BOTH: %14 = "kv.select"(%6, %13) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// BOTH: %15 = "kv.select"(%11, %13) : (tensor<Bx2x(S+1)x16xf32>, tensor<Bx2xSxi64>) -> tensor<Bx2xSx16xf32>
// BOTH: %16, %17, %18, %19 = "kv.quantize"(%14) {axis = "channel", bits = 4, group = 4, residual = 2} : (tensor<Bx2xSx16xf32>) -> (tensor<Bx2xSx8xi8>, tensor<Bx2x((S+3)//4)x16xf32>, tensor<Bx2x((S+3)//4)x16xf32>, tensor<Bx2x2x16xf32>)
// BOTH: %20, %21, %22, %23 = "kv.quantize"(%15) {axis = "token", bits = 4, group = 4, residual = 2} : (tensor<Bx2xSx16xf32>) -> (tensor<Bx2xSx8xi8>, tensor<Bx2xSx4xf32>, tensor<Bx2xSx4xf32>, tensor<Bx2x2x16xf32>)
// BOTH: func.return %a, %16, %17, %18, %19, %20, %21, %22, %23 : tensor<Bx4x1x16xf32>, tensor<Bx2xSx8xi8>, tensor<Bx2x((S+3)//4)x16xf32>, tensor<Bx2x((S+3)//4)x16xf32>, tensor<Bx2x2x16xf32>, tensor<Bx2xSx8xi8>, tensor<Bx2xSx4xf32>, tensor<Bx2xSx4xf32>, tensor<Bx2x2x16xf32>
