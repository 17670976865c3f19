// kv-compress{method=quant} (KIVI, Liu et al. 2024): keys quantised per channel (groups of `group`
// tokens share a scale per channel), values per token (groups of `group` channels); the `window`
// most recent tokens stay at full precision (the residual). The quantised cache is the state:
// each K/V cache @prefill returns, and @decode takes and returns, becomes codes (i8 bytes, 8/bits
// codes each along the head dim: 16 channels are 16/8/4 bytes at 8/4/2 bits), scale, zero and a
// residual buffer of `window` tokens (none at window=0). @prefill attends at full precision;
// @decode dequantises its past into the append and attends over the quantised grown cache.
// ratio=0 is the no-compression setting: nothing is inserted.
// One decoder layer as captured: @prefill returns the prompt's K/V; @decode appends the new
// token to the past cache (concat along the tokens) and returns the grown cache.
// RUN: pimc opt %s -p 'kv-compress{method=quant,group=4,window=4}' | filecheck %s
// RUN: pimc opt %s -p 'kv-compress{method=quant,bits=2,group=8,window=0}' | filecheck %s --check-prefix=INT2
// RUN: pimc opt %s -p 'kv-compress{method=quant,ratio=0}' | filecheck %s --check-prefix=ZERO

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

// kv-compress{method=quant,group=4,window=4}
// CHECK-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xi8>, tensor<Bx2x((T+3)//4)x16xf32>, tensor<Bx2x((T+3)//4)x16xf32>, tensor<Bx2x4x16xf32>, tensor<Bx2xTx16xi8>, tensor<Bx2xTx4xf32>, tensor<Bx2xTx4xf32>, tensor<Bx2x4x16xf32>)
// CHECK: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {bits = 8, group = 4, residual = 4}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// CHECK: %0, %1, %2, %3 = "kv.quantize"(%k) {axis = "channel", bits = 8, group = 4, residual = 4} : (tensor<Bx2xTx16xf32>) -> (tensor<Bx2xTx16xi8>, tensor<Bx2x((T+3)//4)x16xf32>, tensor<Bx2x((T+3)//4)x16xf32>, tensor<Bx2x4x16xf32>)
// CHECK: %4, %5, %6, %7 = "kv.quantize"(%v) {axis = "token", bits = 8, group = 4, residual = 4} : (tensor<Bx2xTx16xf32>) -> (tensor<Bx2xTx16xi8>, tensor<Bx2xTx4xf32>, tensor<Bx2xTx4xf32>, tensor<Bx2x4x16xf32>)
// CHECK: func.return %a, %0, %1, %2, %3, %4, %5, %6, %7 : tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xi8>, tensor<Bx2x((T+3)//4)x16xf32>, tensor<Bx2x((T+3)//4)x16xf32>, tensor<Bx2x4x16xf32>, tensor<Bx2xTx16xi8>, tensor<Bx2xTx4xf32>, tensor<Bx2xTx4xf32>, tensor<Bx2x4x16xf32>
// CHECK-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k_codes: tensor<Bx2xSx16xi8>, %k_scale: tensor<Bx2x((S+3)//4)x16xf32>, %k_zero: tensor<Bx2x((S+3)//4)x16xf32>, %k_residual: tensor<Bx2x4x16xf32>, %v_codes: tensor<Bx2xSx16xi8>, %v_scale: tensor<Bx2xSx4xf32>, %v_zero: tensor<Bx2xSx4xf32>, %v_residual: tensor<Bx2x4x16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x4x16xf32>, tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x4x16xf32>)
// CHECK: %0 = "kv.dequantize"(%k_codes, %k_scale, %k_zero, %k_residual) {axis = "channel", bits = 8, group = 4, residual = 4} : (tensor<Bx2xSx16xi8>, tensor<Bx2x((S+3)//4)x16xf32>, tensor<Bx2x((S+3)//4)x16xf32>, tensor<Bx2x4x16xf32>) -> tensor<Bx2xSx16xf32>
// CHECK: %kc = "llm.concat"(%0, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// CHECK: %1 = "kv.dequantize"(%v_codes, %v_scale, %v_zero, %v_residual) {axis = "token", bits = 8, group = 4, residual = 4} : (tensor<Bx2xSx16xi8>, tensor<Bx2xSx4xf32>, tensor<Bx2xSx4xf32>, tensor<Bx2x4x16xf32>) -> tensor<Bx2xSx16xf32>
// CHECK: %vc = "llm.concat"(%1, %vn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// CHECK: %2, %3, %4, %5 = "kv.quantize"(%kc) {axis = "channel", bits = 8, group = 4, residual = 4} : (tensor<Bx2x(S+1)x16xf32>) -> (tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x4x16xf32>)
// CHECK: %6 = "kv.dequantize"(%2, %3, %4, %5) {axis = "channel", bits = 8, group = 4, residual = 4} : (tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x4x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// CHECK: %7, %8, %9, %10 = "kv.quantize"(%vc) {axis = "token", bits = 8, group = 4, residual = 4} : (tensor<Bx2x(S+1)x16xf32>) -> (tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x4x16xf32>)
// CHECK: %11 = "kv.dequantize"(%7, %8, %9, %10) {axis = "token", bits = 8, group = 4, residual = 4} : (tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x4x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// CHECK: %a = "llm.attention"(%q, %6, %11) {kv = {bits = 8, group = 4, residual = 4}, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// CHECK: func.return %a, %2, %3, %4, %5, %7, %8, %9, %10 : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x4x16xf32>, tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x4x16xf32>

// kv-compress{method=quant,bits=2,group=8,window=0}
// INT2-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2xTx4xi8>, tensor<Bx2x((T+7)//8)x16xf32>, tensor<Bx2x((T+7)//8)x16xf32>, tensor<Bx2xTx4xi8>, tensor<Bx2xTx2xf32>, tensor<Bx2xTx2xf32>)
// INT2: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {bits = 2, group = 8, residual = 0}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// INT2: %0, %1, %2 = "kv.quantize"(%k) {axis = "channel", bits = 2, group = 8, residual = 0} : (tensor<Bx2xTx16xf32>) -> (tensor<Bx2xTx4xi8>, tensor<Bx2x((T+7)//8)x16xf32>, tensor<Bx2x((T+7)//8)x16xf32>)
// INT2: %3, %4, %5 = "kv.quantize"(%v) {axis = "token", bits = 2, group = 8, residual = 0} : (tensor<Bx2xTx16xf32>) -> (tensor<Bx2xTx4xi8>, tensor<Bx2xTx2xf32>, tensor<Bx2xTx2xf32>)
// INT2: func.return %a, %0, %1, %2, %3, %4, %5 : tensor<Bx4xTx16xf32>, tensor<Bx2xTx4xi8>, tensor<Bx2x((T+7)//8)x16xf32>, tensor<Bx2x((T+7)//8)x16xf32>, tensor<Bx2xTx4xi8>, tensor<Bx2xTx2xf32>, tensor<Bx2xTx2xf32>
// INT2-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k_codes: tensor<Bx2xSx4xi8>, %k_scale: tensor<Bx2x((S+7)//8)x16xf32>, %k_zero: tensor<Bx2x((S+7)//8)x16xf32>, %v_codes: tensor<Bx2xSx4xi8>, %v_scale: tensor<Bx2xSx2xf32>, %v_zero: tensor<Bx2xSx2xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x4xi8>, tensor<Bx2x(S//8+1)x16xf32>, tensor<Bx2x(S//8+1)x16xf32>, tensor<Bx2x(S+1)x4xi8>, tensor<Bx2x(S+1)x2xf32>, tensor<Bx2x(S+1)x2xf32>)
// INT2: %0 = "kv.dequantize"(%k_codes, %k_scale, %k_zero) {axis = "channel", bits = 2, group = 8, residual = 0} : (tensor<Bx2xSx4xi8>, tensor<Bx2x((S+7)//8)x16xf32>, tensor<Bx2x((S+7)//8)x16xf32>) -> tensor<Bx2xSx16xf32>
// INT2: %kc = "llm.concat"(%0, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// INT2: %1 = "kv.dequantize"(%v_codes, %v_scale, %v_zero) {axis = "token", bits = 2, group = 8, residual = 0} : (tensor<Bx2xSx4xi8>, tensor<Bx2xSx2xf32>, tensor<Bx2xSx2xf32>) -> tensor<Bx2xSx16xf32>
// INT2: %vc = "llm.concat"(%1, %vn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// INT2: %2, %3, %4 = "kv.quantize"(%kc) {axis = "channel", bits = 2, group = 8, residual = 0} : (tensor<Bx2x(S+1)x16xf32>) -> (tensor<Bx2x(S+1)x4xi8>, tensor<Bx2x(S//8+1)x16xf32>, tensor<Bx2x(S//8+1)x16xf32>)
// INT2: %5 = "kv.dequantize"(%2, %3, %4) {axis = "channel", bits = 2, group = 8, residual = 0} : (tensor<Bx2x(S+1)x4xi8>, tensor<Bx2x(S//8+1)x16xf32>, tensor<Bx2x(S//8+1)x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// INT2: %6, %7, %8 = "kv.quantize"(%vc) {axis = "token", bits = 2, group = 8, residual = 0} : (tensor<Bx2x(S+1)x16xf32>) -> (tensor<Bx2x(S+1)x4xi8>, tensor<Bx2x(S+1)x2xf32>, tensor<Bx2x(S+1)x2xf32>)
// INT2: %9 = "kv.dequantize"(%6, %7, %8) {axis = "token", bits = 2, group = 8, residual = 0} : (tensor<Bx2x(S+1)x4xi8>, tensor<Bx2x(S+1)x2xf32>, tensor<Bx2x(S+1)x2xf32>) -> tensor<Bx2x(S+1)x16xf32>
// INT2: %a = "llm.attention"(%q, %5, %9) {kv = {bits = 2, group = 8, residual = 0}, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// INT2: func.return %a, %2, %3, %4, %6, %7, %8 : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x4xi8>, tensor<Bx2x(S//8+1)x16xf32>, tensor<Bx2x(S//8+1)x16xf32>, tensor<Bx2x(S+1)x4xi8>, tensor<Bx2x(S+1)x2xf32>, tensor<Bx2x(S+1)x2xf32>

// kv-compress{method=quant,ratio=0}
// ZERO-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>)
// ZERO-NOT: "kv.
// ZERO: %a = "llm.attention"(%q, %k, %v) {causal = true, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// ZERO: func.return %a, %k, %v : tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>
// ZERO-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>)
// ZERO-NOT: "kv.
// ZERO: %a = "llm.attention"(%q, %kc, %vc) {scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// ZERO: func.return %a, %kc, %vc : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>
