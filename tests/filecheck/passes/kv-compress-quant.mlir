// kv-compress{method=quant} (KIVI, Liu et al. 2024): keys quantised per channel (groups of `group`
// tokens share a scale per channel), values per token (groups of `group` channels); the `window`
// most recent tokens stay at full precision (the residual, read from the f32 cache). Codes are
// i8/i4/i2. @prefill attends at full precision and returns the quantised cache; @decode's
// attention reads it. ratio=0 is the no-compression setting: nothing is inserted.
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
// CHECK-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>)
// CHECK: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {bits = 8, group = 4, residual = 4}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// CHECK: %0, %1, %2 = "kv.quantize"(%k) {axis = "channel", bits = 8, group = 4, residual = 4} : (tensor<Bx2xTx16xf32>) -> (tensor<Bx2xTx16xi8>, tensor<Bx2x((T+3)//4)x16xf32>, tensor<Bx2x((T+3)//4)x16xf32>)
// CHECK: %3 = "kv.dequantize"(%0, %1, %2, %k) {axis = "channel", group = 4, residual = 4} : (tensor<Bx2xTx16xi8>, tensor<Bx2x((T+3)//4)x16xf32>, tensor<Bx2x((T+3)//4)x16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx2xTx16xf32>
// CHECK: %4, %5, %6 = "kv.quantize"(%v) {axis = "token", bits = 8, group = 4, residual = 4} : (tensor<Bx2xTx16xf32>) -> (tensor<Bx2xTx16xi8>, tensor<Bx2xTx4xf32>, tensor<Bx2xTx4xf32>)
// CHECK: %7 = "kv.dequantize"(%4, %5, %6, %v) {axis = "token", group = 4, residual = 4} : (tensor<Bx2xTx16xi8>, tensor<Bx2xTx4xf32>, tensor<Bx2xTx4xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx2xTx16xf32>
// CHECK: func.return %a, %3, %7 : tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>
// CHECK-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>)
// CHECK: %0, %1, %2 = "kv.quantize"(%kc) {axis = "channel", bits = 8, group = 4, residual = 4} : (tensor<Bx2x(S+1)x16xf32>) -> (tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x(S//4+1)x16xf32>)
// CHECK: %3 = "kv.dequantize"(%0, %1, %2, %kc) {axis = "channel", group = 4, residual = 4} : (tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x(S//4+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// CHECK: %4, %5, %6 = "kv.quantize"(%vc) {axis = "token", bits = 8, group = 4, residual = 4} : (tensor<Bx2x(S+1)x16xf32>) -> (tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x(S+1)x4xf32>)
// CHECK: %7 = "kv.dequantize"(%4, %5, %6, %vc) {axis = "token", group = 4, residual = 4} : (tensor<Bx2x(S+1)x16xi8>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x(S+1)x4xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// CHECK: %a = "llm.attention"(%q, %3, %7) {kv = {bits = 8, group = 4, residual = 4}, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// CHECK: func.return %a, %3, %7 : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>

// kv-compress{method=quant,bits=2,group=8,window=0}
// INT2-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>)
// INT2: %a = "llm.attention"(%q, %k, %v) {causal = true, kv = {bits = 2, group = 8, residual = 0}, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// INT2: %0, %1, %2 = "kv.quantize"(%k) {axis = "channel", bits = 2, group = 8, residual = 0} : (tensor<Bx2xTx16xf32>) -> (tensor<Bx2xTx16xi2>, tensor<Bx2x((T+7)//8)x16xf32>, tensor<Bx2x((T+7)//8)x16xf32>)
// INT2: %3 = "kv.dequantize"(%0, %1, %2) {axis = "channel", group = 8, residual = 0} : (tensor<Bx2xTx16xi2>, tensor<Bx2x((T+7)//8)x16xf32>, tensor<Bx2x((T+7)//8)x16xf32>) -> tensor<Bx2xTx16xf32>
// INT2: %4, %5, %6 = "kv.quantize"(%v) {axis = "token", bits = 2, group = 8, residual = 0} : (tensor<Bx2xTx16xf32>) -> (tensor<Bx2xTx16xi2>, tensor<Bx2xTx2xf32>, tensor<Bx2xTx2xf32>)
// INT2: %7 = "kv.dequantize"(%4, %5, %6) {axis = "token", group = 8, residual = 0} : (tensor<Bx2xTx16xi2>, tensor<Bx2xTx2xf32>, tensor<Bx2xTx2xf32>) -> tensor<Bx2xTx16xf32>
// INT2: func.return %a, %3, %7 : tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>
// INT2-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>)
// INT2: %0, %1, %2 = "kv.quantize"(%kc) {axis = "channel", bits = 2, group = 8, residual = 0} : (tensor<Bx2x(S+1)x16xf32>) -> (tensor<Bx2x(S+1)x16xi2>, tensor<Bx2x(S//8+1)x16xf32>, tensor<Bx2x(S//8+1)x16xf32>)
// INT2: %3 = "kv.dequantize"(%0, %1, %2) {axis = "channel", group = 8, residual = 0} : (tensor<Bx2x(S+1)x16xi2>, tensor<Bx2x(S//8+1)x16xf32>, tensor<Bx2x(S//8+1)x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// INT2: %4, %5, %6 = "kv.quantize"(%vc) {axis = "token", bits = 2, group = 8, residual = 0} : (tensor<Bx2x(S+1)x16xf32>) -> (tensor<Bx2x(S+1)x16xi2>, tensor<Bx2x(S+1)x2xf32>, tensor<Bx2x(S+1)x2xf32>)
// INT2: %7 = "kv.dequantize"(%4, %5, %6) {axis = "token", group = 8, residual = 0} : (tensor<Bx2x(S+1)x16xi2>, tensor<Bx2x(S+1)x2xf32>, tensor<Bx2x(S+1)x2xf32>) -> tensor<Bx2x(S+1)x16xf32>
// INT2: %a = "llm.attention"(%q, %3, %7) {kv = {bits = 2, group = 8, residual = 0}, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// INT2: func.return %a, %3, %7 : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>

// kv-compress{method=quant,ratio=0}
// ZERO-LABEL: func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>)
// ZERO-NOT: "kv.
// ZERO: %a = "llm.attention"(%q, %k, %v) {causal = true, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
// ZERO: func.return %a, %k, %v : tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>
// ZERO-LABEL: func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>)
// ZERO-NOT: "kv.
// ZERO: %a = "llm.attention"(%q, %kc, %vc) {scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
// ZERO: func.return %a, %kc, %vc : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>
