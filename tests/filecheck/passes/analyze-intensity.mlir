// analyze-intensity: cost = {flops, bytes, op_b} on every op, symbolic in B/S/T. The figures are
// worked by hand in the comments (f16 = 2 bytes; attention flops per query-key pair are
// 2*D (QK^T) + 2*Dv (PV) + 8 (softmax) + 1 (scale) = 521 at D = Dv = 128).
// RUN: pimc opt %s -p analyze-intensity | filecheck %s
// RUN: pimc opt %s -p 'analyze-intensity{kv-dtype=i8,dtype=f16,moe-skew=1}' | filecheck %s --check-prefix=OPT

builtin.module {
  // CHECK-LABEL: func.func @mha_decode
  func.func @mha_decode(%x: tensor<Bx1x4096xf16>, %w: tensor<11008x4096xf16>, %q: tensor<Bx32x1x128xf16>, %k: tensor<Bx32xSx128xf16>, %v: tensor<Bx32xSx128xf16>) -> (tensor<Bx1x11008xf16>, tensor<Bx32x1x128xf16>) {
    // A GEMV: 2*4096*11008 flops per row; the weight (2*11008*4096 bytes) dominates the bytes
    // at small B, so op_b = 90177536*B/(30208*B + 90177536) grows with B towards 2985.
    // CHECK: %h = "llm.linear"(%x, %w) {cost = {bytes = #pimc.sym<"30208*B+90177536">, flops = #pimc.sym<"90177536*B">, op_b = #pimc.expr<"176128*B/(59*B + 176128)">}}
    %h = "llm.linear"(%x, %w) : (tensor<Bx1x4096xf16>, tensor<11008x4096xf16>) -> tensor<Bx1x11008xf16>
    // Elementwise: 7 flops (sigmoid + multiply) per element, 2 + 2 bytes.
    // CHECK-NEXT: %a = "llm.silu"(%h) {cost = {bytes = #pimc.sym<"44032*B">, flops = #pimc.sym<"77056*B">, op_b = 1.75}}
    %a = "llm.silu"(%h) : (tensor<Bx1x11008xf16>) -> tensor<Bx1x11008xf16>
    // MHA decode: 32*B*S pairs * 521 flops; K and V are 2 * 32*128*B*S elements at 2 bytes, so
    // Op/B = 521*S/(512*S + 512), about 1. With an i8 KV cache, about 2.
    // CHECK-NEXT: %o = "llm.attention"(%q, %k, %v) {cost = {bytes = #pimc.sym<"16384*B*S+16384*B">, flops = #pimc.sym<"16672*B*S">, op_b = #pimc.expr<"521*S/(512*S + 512)">}, scale = 0.08838834764831845}
    // OPT: %o = "llm.attention"(%q, %k, %v) {cost = {bytes = #pimc.sym<"8192*B*S+16384*B">, flops = #pimc.sym<"16672*B*S">, op_b = #pimc.expr<"521*S/(256*S + 512)">}, scale = 0.08838834764831845}
    %o = "llm.attention"(%q, %k, %v) {scale = 0.08838834764831845} : (tensor<Bx32x1x128xf16>, tensor<Bx32xSx128xf16>, tensor<Bx32xSx128xf16>) -> tensor<Bx32x1x128xf16>
    func.return %a, %o : tensor<Bx1x11008xf16>, tensor<Bx32x1x128xf16>
  }
  // CHECK-LABEL: func.func @gqa_decode
  // OPT-LABEL: func.func @gqa_decode
  func.func @gqa_decode(%q: tensor<Bx64x1x128xf16>, %kc: tensor<Bx8xSx128xf16>, %vc: tensor<Bx8xSx128xf16>, %kn: tensor<Bx8x1x128xf16>, %vn: tensor<Bx8x1x128xf16>) -> tensor<Bx64x1x128xf16> {
    // Appending the new token to a past cache (a function argument) writes only its row:
    // 8*128*B elements read and written.
    // CHECK: %k = "llm.concat"(%kc, %kn) {axis = 2, cost = {bytes = #pimc.sym<"4096*B">, flops = 0, op_b = 0}}
    // OPT: %k = "llm.concat"(%kc, %kn) {axis = 2, cost = {bytes = #pimc.sym<"2048*B">, flops = 0, op_b = 0}}
    %k = "llm.concat"(%kc, %kn) {axis = 2} : (tensor<Bx8xSx128xf16>, tensor<Bx8x1x128xf16>) -> tensor<Bx8x(S+1)x128xf16>
    %v = "llm.concat"(%vc, %vn) {axis = 2} : (tensor<Bx8xSx128xf16>, tensor<Bx8x1x128xf16>) -> tensor<Bx8x(S+1)x128xf16>
    // GQA, 8 query heads per KV head: 64*B*(S+1) pairs, but K/V read once per KV head
    // (2 * 8*128*B*(S+1) elements), so Op/B = 521*(S+1)/(64*S + 576), about 8.
    // CHECK: %o = "llm.attention"(%q, %k, %v) {cost = {bytes = #pimc.sym<"4096*B*S+36864*B">, flops = #pimc.sym<"33344*B*S+33344*B">, op_b = #pimc.expr<"(521*S + 521)/(64*S + 576)">}}
    // OPT: %o = "llm.attention"(%q, %k, %v) {cost = {bytes = #pimc.sym<"2048*B*S+34816*B">, flops = #pimc.sym<"33344*B*S+33344*B">, op_b = #pimc.expr<"(521*S + 521)/(32*S + 544)">}}
    %o = "llm.attention"(%q, %k, %v) : (tensor<Bx64x1x128xf16>, tensor<Bx8x(S+1)x128xf16>, tensor<Bx8x(S+1)x128xf16>) -> tensor<Bx64x1x128xf16>
    func.return %o : tensor<Bx64x1x128xf16>
  }
  // CHECK-LABEL: func.func @prefill_f32
  // OPT-LABEL: func.func @prefill_f32
  func.func @prefill_f32(%x: tensor<BxTx64xf16>, %w: tensor<64xf32>) -> tensor<BxTx64xf32> {
    // A cast moves 2 + 4 bytes per element; under dtype=f16 both sides are f16: a no-op.
    // CHECK-NEXT: %x32 = "llm.cast"(%x) {cost = {bytes = #pimc.sym<"384*B*T">, flops = 0, op_b = 0}}
    // OPT-NEXT: %x32 = "llm.cast"(%x) {cost = {bytes = 0, flops = 0, op_b = 0}}
    %x32 = "llm.cast"(%x) : (tensor<BxTx64xf16>) -> tensor<BxTx64xf32>
    // 4 flops per element; x and y at 4 bytes (2 under dtype=f16) plus the weight.
    // CHECK-NEXT: %y = "llm.rmsnorm"(%x32, %w) {cost = {bytes = #pimc.sym<"512*B*T+256">, flops = #pimc.sym<"256*B*T">, op_b = #pimc.expr<"B*T/(2*B*T + 1)">}, eps = 1e-05}
    // OPT-NEXT: %y = "llm.rmsnorm"(%x32, %w) {cost = {bytes = #pimc.sym<"256*B*T+128">, flops = #pimc.sym<"256*B*T">, op_b = #pimc.expr<"2*B*T/(2*B*T + 1)">}, eps = 1e-05}
    %y = "llm.rmsnorm"(%x32, %w) {eps = 1e-05} : (tensor<BxTx64xf32>, tensor<64xf32>) -> tensor<BxTx64xf32>
    func.return %y : tensor<BxTx64xf32>
  }
  // CHECK-LABEL: func.func @moe
  // OPT-LABEL: func.func @moe
  func.func @moe(%x: tensor<Tx64xf16>) -> tensor<Tx64xf16> {
    // Handles and views move nothing.
    // CHECK-NEXT: %r = "llm.weight"() {cost = {bytes = 0, flops = 0, op_b = 0}, handle = #pimc.weight<"router">}
    %r = "llm.weight"() {handle = #pimc.weight<"router">} : () -> tensor<8x64xf16>
    %g = "llm.weight"() {handle = #pimc.weight<"gate">} : () -> tensor<8x128x64xf16>
    %u = "llm.weight"() {handle = #pimc.weight<"up">} : () -> tensor<8x128x64xf16>
    %d = "llm.weight"() {handle = #pimc.weight<"down">} : () -> tensor<8x64x128xf16>
    // T tokens, top-2 of 8 experts (D = 64, F = 128). Flops per token: router 8*(2*64 + 9)
    // = 1096, two experts of 6*64*128 + 8*128 + 2*64 = 50304 each: 101704. Bytes: x and y
    // (256*T), the router (1024) and 8*(1 - (3/4)**T) expected experts of 3*64*128*2 = 49152
    // bytes each (uniform routing). moe-skew=1 (Zipf) puts 0.736 of a token on expert 1:
    // its term is (1 - 0.736)**T = 0.264...**T.
    // CHECK: %y = "llm.moe"(%x, %r, %g, %u, %d) {cost = {bytes = #pimc.expr<"-393216*(3/4)**T + 256*T + 394240">, flops = #pimc.sym<"101704*T">, op_b = #pimc.expr<"101704*T/(-393216*(3/4)**T + 256*T + 394240)">}, top_k = 2}
    // OPT: %y = "llm.moe"(%x, %r, %g, %u, %d) {cost = {bytes = #pimc.expr<"-49152*0.264126149802891**T - 49152*0.632063074901445**T - {{.*}} + 256*T + 394240">, flops = #pimc.sym<"101704*T">
    %y = "llm.moe"(%x, %r, %g, %u, %d) {top_k = 2} : (tensor<Tx64xf16>, tensor<8x64xf16>, tensor<8x128x64xf16>, tensor<8x128x64xf16>, tensor<8x64x128xf16>) -> tensor<Tx64xf16>
    // CHECK-NEXT: func.return %y : tensor<Tx64xf16>
    func.return %y : tensor<Tx64xf16>
  }
}
