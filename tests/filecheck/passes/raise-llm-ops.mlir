// raise-llm-ops: every pattern of pimc/passes/raise_llm_ops.py, in the forms torch.export's
// core-ATen decomposition produces, and near-misses that must stay decomposed.
// RUN: pimc opt %s -p raise-llm-ops | filecheck --match-full-lines %s

builtin.module {
  // CHECK-LABEL: func.func @silu(%x: tensor<Bx(2*T)xf32>) -> tensor<Bx(2*T)xf32> {
  // CHECK-NEXT: %0 = "llm.silu"(%x) : (tensor<Bx(2*T)xf32>) -> tensor<Bx(2*T)xf32>
  // CHECK-NEXT: func.return %0 : tensor<Bx(2*T)xf32>
  func.func @silu(%x: tensor<Bx(2*T)xf32>) -> tensor<Bx(2*T)xf32> {
    %s = "llm.sigmoid"(%x) : (tensor<Bx(2*T)xf32>) -> tensor<Bx(2*T)xf32>
    %y = "llm.mul"(%s, %x) : (tensor<Bx(2*T)xf32>, tensor<Bx(2*T)xf32>) -> tensor<Bx(2*T)xf32>
    func.return %y : tensor<Bx(2*T)xf32>
  }
  // A sigmoid of another value is a gate, not a SiLU.
  // CHECK-LABEL: func.func @not_silu(%x: tensor<4xf32>, %z: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK-NEXT: %s = "llm.sigmoid"(%z) : (tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: %y = "llm.mul"(%s, %x) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.func @not_silu(%x: tensor<4xf32>, %z: tensor<4xf32>) -> tensor<4xf32> {
    %s = "llm.sigmoid"(%z) : (tensor<4xf32>) -> tensor<4xf32>
    %y = "llm.mul"(%s, %x) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    func.return %y : tensor<4xf32>
  }
  // GPT-2's gelu_new: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))).
  // CHECK-LABEL: func.func @gelu_tanh(%x: tensor<Tx64xf32>) -> tensor<Tx64xf32> {
  // CHECK-NEXT: %0 = "llm.gelu"(%x) {approximate = "tanh"} : (tensor<Tx64xf32>) -> tensor<Tx64xf32>
  // CHECK-NEXT: func.return %0 : tensor<Tx64xf32>
  func.func @gelu_tanh(%x: tensor<Tx64xf32>) -> tensor<Tx64xf32> {
    %half = "llm.constant"() {value = 0.5} : () -> tensor<f32>
    %c = "llm.constant"() {value = 0.044715} : () -> tensor<f32>
    %k = "llm.constant"() {value = 0.7978845608028654} : () -> tensor<f32>
    %one = "llm.constant"() {value = 1.0} : () -> tensor<f32>
    %hx = "llm.mul"(%x, %half) : (tensor<Tx64xf32>, tensor<f32>) -> tensor<Tx64xf32>
    %x3 = "llm.pow_scalar"(%x) {exponent = 3.0} : (tensor<Tx64xf32>) -> tensor<Tx64xf32>
    %cx3 = "llm.mul"(%x3, %c) : (tensor<Tx64xf32>, tensor<f32>) -> tensor<Tx64xf32>
    %in = "llm.add"(%x, %cx3) : (tensor<Tx64xf32>, tensor<Tx64xf32>) -> tensor<Tx64xf32>
    %kin = "llm.mul"(%in, %k) : (tensor<Tx64xf32>, tensor<f32>) -> tensor<Tx64xf32>
    %t = "llm.tanh"(%kin) : (tensor<Tx64xf32>) -> tensor<Tx64xf32>
    %t1 = "llm.add"(%t, %one) : (tensor<Tx64xf32>, tensor<f32>) -> tensor<Tx64xf32>
    %y = "llm.mul"(%hx, %t1) : (tensor<Tx64xf32>, tensor<Tx64xf32>) -> tensor<Tx64xf32>
    func.return %y : tensor<Tx64xf32>
  }
  // HF LlamaRMSNorm in f16: upcast, x^2, mean over the last dim, + eps, rsqrt, scale, downcast,
  // times the weight. The raised op computes in f16 directly.
  // CHECK-LABEL: func.func @rmsnorm(%x: tensor<BxTx64xf16>, %w: tensor<64xf16>) -> tensor<BxTx64xf16> {
  // CHECK-NEXT: %0 = "llm.rmsnorm"(%x, %w) {eps = 1e-05} : (tensor<BxTx64xf16>, tensor<64xf16>) -> tensor<BxTx64xf16>
  // CHECK-NEXT: func.return %0 : tensor<BxTx64xf16>
  func.func @rmsnorm(%x: tensor<BxTx64xf16>, %w: tensor<64xf16>) -> tensor<BxTx64xf16> {
    %x32 = "llm.cast"(%x) : (tensor<BxTx64xf16>) -> tensor<BxTx64xf32>
    %sq = "llm.pow_scalar"(%x32) {exponent = 2.0} : (tensor<BxTx64xf32>) -> tensor<BxTx64xf32>
    %m = "llm.reduce_mean"(%sq) {axes = [2], keepdim = true} : (tensor<BxTx64xf32>) -> tensor<BxTx1xf32>
    %eps = "llm.constant"() {value = 1e-05} : () -> tensor<f32>
    %a = "llm.add"(%m, %eps) : (tensor<BxTx1xf32>, tensor<f32>) -> tensor<BxTx1xf32>
    %r = "llm.rsqrt"(%a) : (tensor<BxTx1xf32>) -> tensor<BxTx1xf32>
    %n = "llm.mul"(%x32, %r) : (tensor<BxTx64xf32>, tensor<BxTx1xf32>) -> tensor<BxTx64xf32>
    %n16 = "llm.cast"(%n) : (tensor<BxTx64xf32>) -> tensor<BxTx64xf16>
    %y = "llm.mul"(%w, %n16) : (tensor<64xf16>, tensor<BxTx64xf16>) -> tensor<BxTx64xf16>
    func.return %y : tensor<BxTx64xf16>
  }
  // A mean over another axis is not an RMSNorm.
  // CHECK-LABEL: func.func @not_rmsnorm(%x: tensor<8x64xf32>, %w: tensor<64xf32>) -> tensor<8x64xf32> {
  // CHECK-NOT: {{.*}}llm.rmsnorm{{.*}}
  // CHECK: func.return %y : tensor<8x64xf32>
  func.func @not_rmsnorm(%x: tensor<8x64xf32>, %w: tensor<64xf32>) -> tensor<8x64xf32> {
    %sq = "llm.mul"(%x, %x) : (tensor<8x64xf32>, tensor<8x64xf32>) -> tensor<8x64xf32>
    %m = "llm.reduce_mean"(%sq) {axes = [0], keepdim = true} : (tensor<8x64xf32>) -> tensor<1x64xf32>
    %eps = "llm.constant"() {value = 1e-06} : () -> tensor<f32>
    %a = "llm.add"(%m, %eps) : (tensor<1x64xf32>, tensor<f32>) -> tensor<1x64xf32>
    %r = "llm.rsqrt"(%a) : (tensor<1x64xf32>) -> tensor<1x64xf32>
    %n = "llm.mul"(%x, %r) : (tensor<8x64xf32>, tensor<1x64xf32>) -> tensor<8x64xf32>
    %y = "llm.mul"(%n, %w) : (tensor<8x64xf32>, tensor<64xf32>) -> tensor<8x64xf32>
    func.return %y : tensor<8x64xf32>
  }
  // HF apply_rotary_pos_emb: q * cos + rotate_half(q) * sin, rotate_half = cat(-q[h:], q[:h]).
  // CHECK-LABEL: func.func @rope(%q: tensor<Bx4xTx16xf32>, %cos: tensor<Bx1xTx16xf32>, %sin: tensor<Bx1xTx16xf32>) -> tensor<Bx4xTx16xf32> {
  // CHECK-NEXT: %0 = "llm.rope"(%q, %cos, %sin) {style = "half"} : (tensor<Bx4xTx16xf32>, tensor<Bx1xTx16xf32>, tensor<Bx1xTx16xf32>) -> tensor<Bx4xTx16xf32>
  // CHECK-NEXT: func.return %0 : tensor<Bx4xTx16xf32>
  func.func @rope(%q: tensor<Bx4xTx16xf32>, %cos: tensor<Bx1xTx16xf32>, %sin: tensor<Bx1xTx16xf32>) -> tensor<Bx4xTx16xf32> {
    %qc = "llm.mul"(%q, %cos) : (tensor<Bx4xTx16xf32>, tensor<Bx1xTx16xf32>) -> tensor<Bx4xTx16xf32>
    %lo = "llm.slice"(%q) {axis = 3, end = 8, start = 0} : (tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx8xf32>
    %hi = "llm.slice"(%q) {axis = 3, end = 16, start = 8} : (tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx8xf32>
    %nh = "llm.neg"(%hi) : (tensor<Bx4xTx8xf32>) -> tensor<Bx4xTx8xf32>
    %rot = "llm.concat"(%nh, %lo) {axis = -1} : (tensor<Bx4xTx8xf32>, tensor<Bx4xTx8xf32>) -> tensor<Bx4xTx16xf32>
    %rs = "llm.mul"(%sin, %rot) : (tensor<Bx1xTx16xf32>, tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx16xf32>
    %y = "llm.add"(%rs, %qc) : (tensor<Bx4xTx16xf32>, tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx16xf32>
    func.return %y : tensor<Bx4xTx16xf32>
  }
  // Swapped halves are not a rotate_half.
  // CHECK-LABEL: func.func @not_rope(%q: tensor<2x16xf32>, %cos: tensor<2x16xf32>, %sin: tensor<2x16xf32>) -> tensor<2x16xf32> {
  // CHECK-NOT: {{.*}}llm.rope{{.*}}
  // CHECK: func.return %y : tensor<2x16xf32>
  func.func @not_rope(%q: tensor<2x16xf32>, %cos: tensor<2x16xf32>, %sin: tensor<2x16xf32>) -> tensor<2x16xf32> {
    %qc = "llm.mul"(%q, %cos) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %lo = "llm.slice"(%q) {axis = 1, end = 8, start = 0} : (tensor<2x16xf32>) -> tensor<2x8xf32>
    %hi = "llm.slice"(%q) {axis = 1, end = 16, start = 8} : (tensor<2x16xf32>) -> tensor<2x8xf32>
    %nl = "llm.neg"(%lo) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %rot = "llm.concat"(%nl, %hi) {axis = 1} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x16xf32>
    %rs = "llm.mul"(%rot, %sin) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %y = "llm.add"(%qc, %rs) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    func.return %y : tensor<2x16xf32>
  }
  // aten.linear decomposed: view to 2-D, permute the weight, mm, add the bias, view back.
  // CHECK-LABEL: func.func @linear_bias(%x: tensor<BxTx64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> tensor<BxTx32xf32> {
  // CHECK-NEXT: %0 = "llm.linear"(%x, %w, %b) : (tensor<BxTx64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<BxTx32xf32>
  // CHECK-NEXT: func.return %0 : tensor<BxTx32xf32>
  func.func @linear_bias(%x: tensor<BxTx64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> tensor<BxTx32xf32> {
    %f = "llm.reshape"(%x) : (tensor<BxTx64xf32>) -> tensor<(B*T)x64xf32>
    %wt = "llm.transpose"(%w) {perm = [1, 0]} : (tensor<32x64xf32>) -> tensor<64x32xf32>
    %mm = "llm.matmul"(%f, %wt) : (tensor<(B*T)x64xf32>, tensor<64x32xf32>) -> tensor<(B*T)x32xf32>
    %a = "llm.add"(%mm, %b) : (tensor<(B*T)x32xf32>, tensor<32xf32>) -> tensor<(B*T)x32xf32>
    %y = "llm.reshape"(%a) : (tensor<(B*T)x32xf32>) -> tensor<BxTx32xf32>
    func.return %y : tensor<BxTx32xf32>
  }
  // The trailing view also splits heads (after canonicalize merged two views): keep the split.
  // CHECK-LABEL: func.func @linear_heads(%x: tensor<BxTx64xf32>, %w: tensor<64x64xf32>) -> tensor<BxTx4x16xf32> {
  // CHECK-NEXT: %0 = "llm.linear"(%x, %w) : (tensor<BxTx64xf32>, tensor<64x64xf32>) -> tensor<BxTx64xf32>
  // CHECK-NEXT: %1 = "llm.reshape"(%0) : (tensor<BxTx64xf32>) -> tensor<BxTx4x16xf32>
  // CHECK-NEXT: func.return %1 : tensor<BxTx4x16xf32>
  func.func @linear_heads(%x: tensor<BxTx64xf32>, %w: tensor<64x64xf32>) -> tensor<BxTx4x16xf32> {
    %f = "llm.reshape"(%x) : (tensor<BxTx64xf32>) -> tensor<(B*T)x64xf32>
    %wt = "llm.transpose"(%w) {perm = [1, 0]} : (tensor<64x64xf32>) -> tensor<64x64xf32>
    %mm = "llm.matmul"(%f, %wt) : (tensor<(B*T)x64xf32>, tensor<64x64xf32>) -> tensor<(B*T)x64xf32>
    %y = "llm.reshape"(%mm) : (tensor<(B*T)x64xf32>) -> tensor<BxTx4x16xf32>
    func.return %y : tensor<BxTx4x16xf32>
  }
  // A GEMM with an untransposed right operand is a plain matmul (GPT-2's Conv1D layout).
  // CHECK-LABEL: func.func @not_linear(%x: tensor<Tx64xf32>, %w: tensor<64x32xf32>) -> tensor<Tx32xf32> {
  // CHECK-NEXT: %mm = "llm.matmul"(%x, %w) : (tensor<Tx64xf32>, tensor<64x32xf32>) -> tensor<Tx32xf32>
  // CHECK-NEXT: %y = "llm.reshape"(%mm) : (tensor<Tx32xf32>) -> tensor<Tx32xf32>
  func.func @not_linear(%x: tensor<Tx64xf32>, %w: tensor<64x32xf32>) -> tensor<Tx32xf32> {
    %mm = "llm.matmul"(%x, %w) : (tensor<Tx64xf32>, tensor<64x32xf32>) -> tensor<Tx32xf32>
    %y = "llm.reshape"(%mm) : (tensor<Tx32xf32>) -> tensor<Tx32xf32>
    func.return %y : tensor<Tx32xf32>
  }
  // HF's batched_mm experts (Mixtral): route with softmax + top-2 + renormalise, gather each
  // token's two expert matrices, gated-SiLU GEMVs, weight by the routing and sum over k.
  // CHECK-LABEL: func.func @moe(%x: tensor<Nx8xf32>, %router: tensor<4x8xf32>, %gu: tensor<4x32x8xf32>, %dn: tensor<4x8x16xf32>) -> tensor<Nx8xf32> {
  // CHECK-NEXT: %0 = "llm.slice"(%gu) {axis = 1, end = 16, start = 0} : (tensor<4x32x8xf32>) -> tensor<4x16x8xf32>
  // CHECK-NEXT: %1 = "llm.slice"(%gu) {axis = 1, end = 32, start = 16} : (tensor<4x32x8xf32>) -> tensor<4x16x8xf32>
  // CHECK-NEXT: %2 = "llm.moe"(%x, %router, %0, %1, %dn) {normalize = true, top_k = 2} : (tensor<Nx8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<Nx8xf32>
  // CHECK-NEXT: func.return %2 : tensor<Nx8xf32>
  func.func @moe(%x: tensor<Nx8xf32>, %router: tensor<4x8xf32>, %gu: tensor<4x32x8xf32>, %dn: tensor<4x8x16xf32>) -> tensor<Nx8xf32> {
    %rt = "llm.transpose"(%router) {perm = [1, 0]} : (tensor<4x8xf32>) -> tensor<8x4xf32>
    %logits = "llm.matmul"(%x, %rt) : (tensor<Nx8xf32>, tensor<8x4xf32>) -> tensor<Nx4xf32>
    %p = "llm.softmax"(%logits) {axis = 1} : (tensor<Nx4xf32>) -> tensor<Nx4xf32>
    %vals, %idx = "llm.topk"(%p) {axis = 1, k = 2} : (tensor<Nx4xf32>) -> (tensor<Nx2xf32>, tensor<Nx2xi64>)
    %tot = "llm.reduce_sum"(%vals) {axes = [1], keepdim = true} : (tensor<Nx2xf32>) -> tensor<Nx1xf32>
    %wts = "llm.div"(%vals, %tot) : (tensor<Nx2xf32>, tensor<Nx1xf32>) -> tensor<Nx2xf32>
    %x3 = "llm.reshape"(%x) : (tensor<Nx8xf32>) -> tensor<Nx1x8xf32>
    %xk = "llm.expand"(%x3) : (tensor<Nx1x8xf32>) -> tensor<Nx2x8xf32>
    %xc = "llm.reshape"(%xk) : (tensor<Nx2x8xf32>) -> tensor<(2*N)x8x1xf32>
    %ids = "llm.reshape"(%idx) : (tensor<Nx2xi64>) -> tensor<(2*N)xi64>
    %wgu = "llm.take"(%gu, %ids) {axis = 0} : (tensor<4x32x8xf32>, tensor<(2*N)xi64>) -> tensor<(2*N)x32x8xf32>
    %h3 = "llm.matmul"(%wgu, %xc) : (tensor<(2*N)x32x8xf32>, tensor<(2*N)x8x1xf32>) -> tensor<(2*N)x32x1xf32>
    %h = "llm.reshape"(%h3) : (tensor<(2*N)x32x1xf32>) -> tensor<(2*N)x32xf32>
    %g = "llm.slice"(%h) {axis = 1, end = 16, start = 0} : (tensor<(2*N)x32xf32>) -> tensor<(2*N)x16xf32>
    %u = "llm.slice"(%h) {axis = 1, end = 32, start = 16} : (tensor<(2*N)x32xf32>) -> tensor<(2*N)x16xf32>
    %sg = "llm.sigmoid"(%g) : (tensor<(2*N)x16xf32>) -> tensor<(2*N)x16xf32>
    %act = "llm.mul"(%g, %sg) : (tensor<(2*N)x16xf32>, tensor<(2*N)x16xf32>) -> tensor<(2*N)x16xf32>
    %a = "llm.mul"(%act, %u) : (tensor<(2*N)x16xf32>, tensor<(2*N)x16xf32>) -> tensor<(2*N)x16xf32>
    %ac = "llm.reshape"(%a) : (tensor<(2*N)x16xf32>) -> tensor<(2*N)x16x1xf32>
    %wdn = "llm.take"(%dn, %ids) {axis = 0} : (tensor<4x8x16xf32>, tensor<(2*N)xi64>) -> tensor<(2*N)x8x16xf32>
    %y3 = "llm.matmul"(%wdn, %ac) : (tensor<(2*N)x8x16xf32>, tensor<(2*N)x16x1xf32>) -> tensor<(2*N)x8x1xf32>
    %y = "llm.reshape"(%y3) : (tensor<(2*N)x8x1xf32>) -> tensor<(2*N)x8xf32>
    %wc = "llm.reshape"(%wts) : (tensor<Nx2xf32>) -> tensor<(2*N)x1xf32>
    %yw = "llm.mul"(%y, %wc) : (tensor<(2*N)x8xf32>, tensor<(2*N)x1xf32>) -> tensor<(2*N)x8xf32>
    %yk = "llm.reshape"(%yw) : (tensor<(2*N)x8xf32>) -> tensor<Nx2x8xf32>
    %out = "llm.reduce_sum"(%yk) {axes = [1], keepdim = false} : (tensor<Nx2x8xf32>) -> tensor<Nx8xf32>
    func.return %out : tensor<Nx8xf32>
  }
}
