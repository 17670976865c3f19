// The op-specific errors of the llm dialect (pimc/ir/dialects/llm.py and llm_tensor.py): every
// `fail(...)` and every dim check of a shape rule, with distinct values in each message.
// RUN: not pimc opt --split-input-file %s 2>&1 | filecheck --strict-whitespace %s

// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:7:3: 'llm.reduce_sum' op attribute 'axes' repeats an axis: [2, 1, -1]{{$}}
func.func @reduce_repeats_axis(%x: tensor<BxSx64xf32>) -> tensor<Bxf32> {
  %y = "llm.reduce_sum"(%x) {axes = [2, 1, -1]} : (tensor<BxSx64xf32>) -> tensor<Bxf32>
  func.return %y : tensor<Bxf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:14:3: 'llm.reshape' op changes the element count: (4096*B*S) -> (4095*B*S) (tensor<BxSx4096xf16> -> tensor<(B*S)x4095xf16>){{$}}
// CHECK-NEXT: {{^}}%y = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<(B*S)x4095xf16>{{$}}
func.func @reshape_count(%x: tensor<BxSx4096xf16>) -> tensor<(B*S)x4095xf16> {
  %y = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<(B*S)x4095xf16>
  func.return %y : tensor<(B*S)x4095xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:20:3: 'llm.reshape' op changes the element count: (64*B*(S+1)) -> (64*B*S) (tensor<Bx(S+1)x64xf16> -> tensor<(B*S)x64xf16>){{$}}
func.func @reshape_symbolic_count(%x: tensor<Bx(S+1)x64xf16>) -> tensor<(B*S)x64xf16> {
  %y = "llm.reshape"(%x) : (tensor<Bx(S+1)x64xf16>) -> tensor<(B*S)x64xf16>
  func.return %y : tensor<(B*S)x64xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:26:3: 'llm.reshape' op operand and result must share an element type, found tensor<Bx64xf16>, tensor<(64*B)xbf16>{{$}}
func.func @reshape_element(%x: tensor<Bx64xf16>) -> tensor<(64*B)xbf16> {
  %y = "llm.reshape"(%x) : (tensor<Bx64xf16>) -> tensor<(64*B)xbf16>
  func.return %y : tensor<(64*B)xbf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:32:3: 'llm.cast' op must keep the shape: tensor<BxSx64xf16> -> tensor<BxTx64xf32>{{$}}
func.func @cast_shape(%x: tensor<BxSx64xf16>) -> tensor<BxTx64xf32> {
  %y = "llm.cast"(%x) : (tensor<BxSx64xf16>) -> tensor<BxTx64xf32>
  func.return %y : tensor<BxTx64xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:38:3: 'llm.transpose' op attribute 'perm' [1, 1, 0] is not a permutation of 0..2{{$}}
func.func @transpose_perm(%x: tensor<BxSx64xf32>) -> tensor<Bx64x64xf32> {
  %y = "llm.transpose"(%x) {perm = [1, 1, 0]} : (tensor<BxSx64xf32>) -> tensor<Bx64x64xf32>
  func.return %y : tensor<Bx64x64xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:44:3: 'llm.transpose' op attribute 'perm' [1, 0] is not a permutation of 0..2{{$}}
func.func @transpose_perm_length(%x: tensor<BxSx64xf32>) -> tensor<SxBxf32> {
  %y = "llm.transpose"(%x) {perm = [1, 0]} : (tensor<BxSx64xf32>) -> tensor<SxBxf32>
  func.return %y : tensor<SxBxf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:50:3: 'llm.concat' op needs at least one operand{{$}}
func.func @concat_nothing() -> tensor<4xf32> {
  %y = "llm.concat"() {axis = 0} : () -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:57:3: 'llm.concat' op operand #2 tensor<Bx7x1x3xf16> does not match operand #0 tensor<Bx8x1x4xf16> outside axis 3{{$}}
// CHECK-NEXT: {{^}}%y = "llm.concat"(%a, %b, %c) {axis = -1} : (tensor<Bx8x1x4xf16>, tensor<Bx8x1x2xf16>, tensor<Bx7x1x3xf16>) -> tensor<Bx8x1x9xf16>{{$}}
func.func @concat_mismatch(%a: tensor<Bx8x1x4xf16>, %b: tensor<Bx8x1x2xf16>, %c: tensor<Bx7x1x3xf16>) -> tensor<Bx8x1x9xf16> {
  %y = "llm.concat"(%a, %b, %c) {axis = -1} : (tensor<Bx8x1x4xf16>, tensor<Bx8x1x2xf16>, tensor<Bx7x1x3xf16>) -> tensor<Bx8x1x9xf16>
  func.return %y : tensor<Bx8x1x9xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:63:3: 'llm.concat' op operand #1 tensor<4xf16> does not match operand #0 tensor<Bx4xf16> outside axis 0{{$}}
func.func @concat_rank(%a: tensor<Bx4xf16>, %b: tensor<4xf16>) -> tensor<(B+1)x4xf16> {
  %y = "llm.concat"(%a, %b) {axis = 0} : (tensor<Bx4xf16>, tensor<4xf16>) -> tensor<(B+1)x4xf16>
  func.return %y : tensor<(B+1)x4xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:69:3: 'llm.concat' op operand #1 must be a tensor, found f16{{$}}
func.func @concat_operand_not_tensor(%a: tensor<4xf16>, %b: f16) -> tensor<5xf16> {
  %y = "llm.concat"(%a, %b) {axis = 0} : (tensor<4xf16>, f16) -> tensor<5xf16>
  func.return %y : tensor<5xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:75:3: 'llm.slice' op attribute 'step' must be >= 1, found -2{{$}}
func.func @slice_step(%x: tensor<Bx8xf32>) -> tensor<Bx4xf32> {
  %y = "llm.slice"(%x) {axis = 1, start = 0, end = 8, step = -2} : (tensor<Bx8xf32>) -> tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:81:3: 'llm.slice' op range 2:9 is outside dim 1 of size 8{{$}}
func.func @slice_range(%x: tensor<Bx8xf32>) -> tensor<Bx7xf32> {
  %y = "llm.slice"(%x) {axis = -1, start = 2, end = 9} : (tensor<Bx8xf32>) -> tensor<Bx7xf32>
  func.return %y : tensor<Bx7xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:87:3: 'llm.slice' op range 5:3 is outside dim 0 of size 6{{$}}
func.func @slice_reversed(%x: tensor<6x8xf32>) -> tensor<0x8xf32> {
  %y = "llm.slice"(%x) {axis = 0, start = 5, end = 3} : (tensor<6x8xf32>) -> tensor<0x8xf32>
  func.return %y : tensor<0x8xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:93:3: 'llm.gather' op indices must have the rank of x (3), found tensor<Bx4xi64>{{$}}
func.func @gather_rank(%x: tensor<BxSx64xf32>, %i: tensor<Bx4xi64>) -> tensor<Bx4xf32> {
  %y = "llm.gather"(%x, %i) {axis = 1} : (tensor<BxSx64xf32>, tensor<Bx4xi64>) -> tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:99:3: 'llm.gather' op indices must have an integer element type, found tensor<Bx4xf16>{{$}}
func.func @gather_float_indices(%x: tensor<Bx64xf32>, %i: tensor<Bx4xf16>) -> tensor<Bx4xf32> {
  %y = "llm.gather"(%x, %i) {axis = 1} : (tensor<Bx64xf32>, tensor<Bx4xf16>) -> tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:105:3: 'llm.embedding' op table must have rank 2, found tensor<32000xf16>{{$}}
func.func @embedding_table_rank(%ids: tensor<BxSxi32>, %t: tensor<32000xf16>) -> tensor<BxSxf16> {
  %e = "llm.embedding"(%ids, %t) : (tensor<BxSxi32>, tensor<32000xf16>) -> tensor<BxSxf16>
  func.return %e : tensor<BxSxf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:111:3: 'llm.topk' op attribute 'k' = 80 must be in 1..64{{$}}
func.func @topk_too_many(%x: tensor<Bx64xf32>) {
  %v, %i = "llm.topk"(%x) {k = 80} : (tensor<Bx64xf32>) -> (tensor<Bx80xf32>, tensor<Bx80xi64>)
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:117:3: 'llm.topk' op attribute 'k' = 0 must be in 1..S{{$}}
func.func @topk_zero_symbolic(%x: tensor<SxBxf32>) {
  %v, %i = "llm.topk"(%x) {k = 0, axis = 0} : (tensor<SxBxf32>) -> (tensor<0xBxf32>, tensor<0xBxi64>)
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:124:3: 'llm.matmul' op contraction dims differ (tensor<Bx1x4096xf16> @ tensor<4097x11008xf16>): 4096 != 4097{{$}}
// CHECK-NEXT: {{^}}%y = "llm.matmul"(%x, %w) : (tensor<Bx1x4096xf16>, tensor<4097x11008xf16>) -> tensor<Bx1x11008xf16>{{$}}
func.func @matmul_contraction(%x: tensor<Bx1x4096xf16>, %w: tensor<4097x11008xf16>) -> tensor<Bx1x11008xf16> {
  %y = "llm.matmul"(%x, %w) : (tensor<Bx1x4096xf16>, tensor<4097x11008xf16>) -> tensor<Bx1x11008xf16>
  func.return %y : tensor<Bx1x11008xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:130:3: 'llm.matmul' op contraction dims differ (tensor<Bx32x1x128xf16> @ tensor<Bx32xSx64xf16>): 128 != 64{{$}}
func.func @matmul_contraction_transposed(%q: tensor<Bx32x1x128xf16>, %k: tensor<Bx32xSx64xf16>) -> tensor<Bx32x1xSxf16> {
  %y = "llm.matmul"(%q, %k) {transpose_b = true} : (tensor<Bx32x1x128xf16>, tensor<Bx32xSx64xf16>) -> tensor<Bx32x1xSxf16>
  func.return %y : tensor<Bx32x1xSxf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:136:3: 'llm.matmul' op contraction dims differ (tensor<Sx4xf32> @ tensor<Tx5xf32>): S != T{{$}}
func.func @matmul_contraction_transpose_a(%a: tensor<Sx4xf32>, %b: tensor<Tx5xf32>) -> tensor<4x5xf32> {
  %y = "llm.matmul"(%a, %b) {transpose_a = true} : (tensor<Sx4xf32>, tensor<Tx5xf32>) -> tensor<4x5xf32>
  func.return %y : tensor<4x5xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:142:3: 'llm.matmul' op shapes [3, B] and [2] do not broadcast (dim -1: B vs 2){{$}}
func.func @matmul_batch(%a: tensor<3xBx4x8xf32>, %b: tensor<2x8x16xf32>) -> tensor<3xBx4x16xf32> {
  %y = "llm.matmul"(%a, %b) : (tensor<3xBx4x8xf32>, tensor<2x8x16xf32>) -> tensor<3xBx4x16xf32>
  func.return %y : tensor<3xBx4x16xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:148:3: 'llm.linear' op x's last dim must equal w's input dim (tensor<(B*S)x4096xbf16>, tensor<14336x4095xbf16>): 4096 != 4095{{$}}
func.func @linear_input_dim(%x: tensor<(B*S)x4096xbf16>, %w: tensor<14336x4095xbf16>) -> tensor<(B*S)x14336xbf16> {
  %y = "llm.linear"(%x, %w) : (tensor<(B*S)x4096xbf16>, tensor<14336x4095xbf16>) -> tensor<(B*S)x14336xbf16>
  func.return %y : tensor<(B*S)x14336xbf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:154:3: 'llm.linear' op bias length must equal w's output dim (tensor<127xf32>, tensor<128x64xf32>): 127 != 128{{$}}
func.func @linear_bias(%x: tensor<Bx64xf32>, %w: tensor<128x64xf32>, %b: tensor<127xf32>) -> tensor<Bx128xf32> {
  %y = "llm.linear"(%x, %w, %b) : (tensor<Bx64xf32>, tensor<128x64xf32>, tensor<127xf32>) -> tensor<Bx128xf32>
  func.return %y : tensor<Bx128xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:160:3: 'llm.linear' op bias must have rank 1, found tensor<1x128xf32>{{$}}
func.func @linear_bias_rank(%x: tensor<Bx64xf32>, %w: tensor<128x64xf32>, %b: tensor<1x128xf32>) -> tensor<Bx128xf32> {
  %y = "llm.linear"(%x, %w, %b) : (tensor<Bx64xf32>, tensor<128x64xf32>, tensor<1x128xf32>) -> tensor<Bx128xf32>
  func.return %y : tensor<Bx128xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:166:3: 'llm.rmsnorm' op w's length must equal x's last dim (tensor<4095xf32>, tensor<BxSx4096xf32>): 4095 != 4096{{$}}
func.func @rmsnorm_weight(%x: tensor<BxSx4096xf32>, %w: tensor<4095xf32>) -> tensor<BxSx4096xf32> {
  %y = "llm.rmsnorm"(%x, %w) : (tensor<BxSx4096xf32>, tensor<4095xf32>) -> tensor<BxSx4096xf32>
  func.return %y : tensor<BxSx4096xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:172:3: 'llm.rmsnorm' op x must have a float element type, found tensor<Bx8xi8>{{$}}
func.func @rmsnorm_int(%x: tensor<Bx8xi8>, %w: tensor<8xi8>) -> tensor<Bx8xi8> {
  %y = "llm.rmsnorm"(%x, %w) : (tensor<Bx8xi8>, tensor<8xi8>) -> tensor<Bx8xi8>
  func.return %y : tensor<Bx8xi8>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:178:3: 'llm.layernorm' op operand #2 length must equal x's last dim (tensor<767xf32>, tensor<Bx768xf32>): 767 != 768{{$}}
func.func @layernorm_bias(%x: tensor<Bx768xf32>, %w: tensor<768xf32>, %b: tensor<767xf32>) -> tensor<Bx768xf32> {
  %y = "llm.layernorm"(%x, %w, %b) : (tensor<Bx768xf32>, tensor<768xf32>, tensor<767xf32>) -> tensor<Bx768xf32>
  func.return %y : tensor<Bx768xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:184:3: 'llm.layernorm' op operand #1 must have rank 1, found tensor<1x768xf32>{{$}}
func.func @layernorm_weight_rank(%x: tensor<Bx768xf32>, %w: tensor<1x768xf32>) -> tensor<Bx768xf32> {
  %y = "llm.layernorm"(%x, %w) : (tensor<Bx768xf32>, tensor<1x768xf32>) -> tensor<Bx768xf32>
  func.return %y : tensor<Bx768xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:190:3: 'llm.softmax' op operand must have a float element type, found tensor<Bx8xi32>{{$}}
func.func @softmax_int(%x: tensor<Bx8xi32>) -> tensor<Bx8xi32> {
  %y = "llm.softmax"(%x) : (tensor<Bx8xi32>) -> tensor<Bx8xi32>
  func.return %y : tensor<Bx8xi32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:196:3: 'llm.rope' op x's last dim must be even to rotate pairs, found tensor<Bx32xSx127xf16>{{$}}
func.func @rope_odd(%x: tensor<Bx32xSx127xf16>, %c: tensor<Sx127xf16>) -> tensor<Bx32xSx127xf16> {
  %y = "llm.rope"(%x, %c, %c) : (tensor<Bx32xSx127xf16>, tensor<Sx127xf16>, tensor<Sx127xf16>) -> tensor<Bx32xSx127xf16>
  func.return %y : tensor<Bx32xSx127xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:202:3: 'llm.rope' op cos of shape [T, 128] does not broadcast to [B, 32, S, 128]{{$}}
func.func @rope_cos(%x: tensor<Bx32xSx128xf16>, %c: tensor<Tx128xf16>, %s: tensor<Sx128xf16>) -> tensor<Bx32xSx128xf16> {
  %y = "llm.rope"(%x, %c, %s) : (tensor<Bx32xSx128xf16>, tensor<Tx128xf16>, tensor<Sx128xf16>) -> tensor<Bx32xSx128xf16>
  func.return %y : tensor<Bx32xSx128xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:208:3: 'llm.rope' op sin of shape [S, 64] does not broadcast to [B, 32, S, 128]{{$}}
func.func @rope_sin(%x: tensor<Bx32xSx128xf16>, %c: tensor<Sx128xf16>, %s: tensor<Sx64xf16>) -> tensor<Bx32xSx128xf16> {
  %y = "llm.rope"(%x, %c, %s) : (tensor<Bx32xSx128xf16>, tensor<Sx128xf16>, tensor<Sx64xf16>) -> tensor<Bx32xSx128xf16>
  func.return %y : tensor<Bx32xSx128xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:214:3: 'llm.rope' op cos and sin must share an element type, found tensor<Sx128xf32>, tensor<Sx128xbf16>{{$}}
func.func @rope_cos_sin_elements(%x: tensor<Bx32xSx128xf16>, %c: tensor<Sx128xf32>, %s: tensor<Sx128xbf16>) -> tensor<Bx32xSx128xf16> {
  %y = "llm.rope"(%x, %c, %s) : (tensor<Bx32xSx128xf16>, tensor<Sx128xf32>, tensor<Sx128xbf16>) -> tensor<Bx32xSx128xf16>
  func.return %y : tensor<Bx32xSx128xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:220:3: 'llm.rope' op x must have rank >= 2, found tensor<128xf16>{{$}}
func.func @rope_rank(%x: tensor<128xf16>, %c: tensor<128xf16>) -> tensor<128xf16> {
  %y = "llm.rope"(%x, %c, %c) : (tensor<128xf16>, tensor<128xf16>, tensor<128xf16>) -> tensor<128xf16>
  func.return %y : tensor<128xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:226:3: 'llm.attention' op q [B, Hq, T, D] must have rank 4, found tensor<Bx1x128xf16>{{$}}
func.func @attention_rank(%q: tensor<Bx1x128xf16>, %k: tensor<Bx8xSx128xf16>) -> tensor<Bx1x128xf16> {
  %o = "llm.attention"(%q, %k, %k) : (tensor<Bx1x128xf16>, tensor<Bx8xSx128xf16>, tensor<Bx8xSx128xf16>) -> tensor<Bx1x128xf16>
  func.return %o : tensor<Bx1x128xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:232:3: 'llm.attention' op q, k and v must share an element type, found tensor<Bx8x1x64xf16>, tensor<Bx8xSx64xf16>, tensor<Bx8xSx64xf32>{{$}}
func.func @attention_elements(%q: tensor<Bx8x1x64xf16>, %k: tensor<Bx8xSx64xf16>, %v: tensor<Bx8xSx64xf32>) -> tensor<Bx8x1x64xf16> {
  %o = "llm.attention"(%q, %k, %v) : (tensor<Bx8x1x64xf16>, tensor<Bx8xSx64xf16>, tensor<Bx8xSx64xf32>) -> tensor<Bx8x1x64xf16>
  func.return %o : tensor<Bx8x1x64xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:238:3: 'llm.attention' op batch of q and k differ (tensor<Bx8x1x64xf16>, tensor<(2*B)x8xSx64xf16>): B != (2*B){{$}}
func.func @attention_batch(%q: tensor<Bx8x1x64xf16>, %k: tensor<(2*B)x8xSx64xf16>) -> tensor<Bx8x1x64xf16> {
  %o = "llm.attention"(%q, %k, %k) : (tensor<Bx8x1x64xf16>, tensor<(2*B)x8xSx64xf16>, tensor<(2*B)x8xSx64xf16>) -> tensor<Bx8x1x64xf16>
  func.return %o : tensor<Bx8x1x64xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:245:3: 'llm.attention' op head dim of q and k differ (tensor<Bx8x1x128xf16>, tensor<Bx8xSx64xf16>): 128 != 64{{$}}
// CHECK-NEXT: {{^}}%o = "llm.attention"(%q, %k, %k) : (tensor<Bx8x1x128xf16>, tensor<Bx8xSx64xf16>, tensor<Bx8xSx64xf16>) -> tensor<Bx8x1x64xf16>{{$}}
func.func @attention_head_dim(%q: tensor<Bx8x1x128xf16>, %k: tensor<Bx8xSx64xf16>) -> tensor<Bx8x1x64xf16> {
  %o = "llm.attention"(%q, %k, %k) : (tensor<Bx8x1x128xf16>, tensor<Bx8xSx64xf16>, tensor<Bx8xSx64xf16>) -> tensor<Bx8x1x64xf16>
  func.return %o : tensor<Bx8x1x64xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:251:3: 'llm.attention' op kv heads of k and v differ (tensor<Bx8xSx64xf16>, tensor<Bx4xSx64xf16>): 8 != 4{{$}}
func.func @attention_kv_heads(%q: tensor<Bx8x1x64xf16>, %k: tensor<Bx8xSx64xf16>, %v: tensor<Bx4xSx64xf16>) -> tensor<Bx8x1x64xf16> {
  %o = "llm.attention"(%q, %k, %v) : (tensor<Bx8x1x64xf16>, tensor<Bx8xSx64xf16>, tensor<Bx4xSx64xf16>) -> tensor<Bx8x1x64xf16>
  func.return %o : tensor<Bx8x1x64xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:257:3: 'llm.attention' op key length of k and v differ (tensor<Bx8x(S+1)x64xf16>, tensor<Bx8xSx64xf16>): (S+1) != S{{$}}
func.func @attention_key_length(%q: tensor<Bx8x1x64xf16>, %k: tensor<Bx8x(S+1)x64xf16>, %v: tensor<Bx8xSx64xf16>) -> tensor<Bx8x1x64xf16> {
  %o = "llm.attention"(%q, %k, %v) : (tensor<Bx8x1x64xf16>, tensor<Bx8x(S+1)x64xf16>, tensor<Bx8xSx64xf16>) -> tensor<Bx8x1x64xf16>
  func.return %o : tensor<Bx8x1x64xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:264:3: 'llm.attention' op query heads (12) must be a multiple of kv heads (8) for GQA{{$}}
// CHECK-NEXT: {{^}}%o = "llm.attention"(%q, %k, %k) : (tensor<Bx12x1x64xf16>, tensor<Bx8xSx64xf16>, tensor<Bx8xSx64xf16>) -> tensor<Bx12x1x64xf16>{{$}}
func.func @attention_gqa(%q: tensor<Bx12x1x64xf16>, %k: tensor<Bx8xSx64xf16>) -> tensor<Bx12x1x64xf16> {
  %o = "llm.attention"(%q, %k, %k) : (tensor<Bx12x1x64xf16>, tensor<Bx8xSx64xf16>, tensor<Bx8xSx64xf16>) -> tensor<Bx12x1x64xf16>
  func.return %o : tensor<Bx12x1x64xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:270:3: 'llm.attention' op mask of shape [B, 1, T, T] does not broadcast to [B, 8, T, S]{{$}}
func.func @attention_mask(%q: tensor<Bx8xTx64xf16>, %k: tensor<Bx8xSx64xf16>, %m: tensor<Bx1xTxTxf16>) -> tensor<Bx8xTx64xf16> {
  %o = "llm.attention"(%q, %k, %k, %m) : (tensor<Bx8xTx64xf16>, tensor<Bx8xSx64xf16>, tensor<Bx8xSx64xf16>, tensor<Bx1xTxTxf16>) -> tensor<Bx8xTx64xf16>
  func.return %o : tensor<Bx8xTx64xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:276:3: 'llm.moe' op router's input dim must equal x's last dim: 4095 != 4096{{$}}
func.func @moe_router(%x: tensor<Tx4096xbf16>, %r: tensor<8x4095xbf16>, %g: tensor<8x14336x4096xbf16>, %d: tensor<8x4096x14336xbf16>) -> tensor<Tx4096xbf16> {
  %y = "llm.moe"(%x, %r, %g, %g, %d) {top_k = 2} : (tensor<Tx4096xbf16>, tensor<8x4095xbf16>, tensor<8x14336x4096xbf16>, tensor<8x14336x4096xbf16>, tensor<8x4096x14336xbf16>) -> tensor<Tx4096xbf16>
  func.return %y : tensor<Tx4096xbf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:283:3: 'llm.moe' op w_gate dim E mismatch (tensor<9x256x64xf32>): 9 != 8{{$}}
// CHECK-NEXT: {{^}}%y = "llm.moe"(%x, %r, %g, %u, %d) {top_k = 2} : (tensor<Tx64xf32>, tensor<8x64xf32>, tensor<9x256x64xf32>, tensor<8x256x64xf32>, tensor<8x64x256xf32>) -> tensor<Tx64xf32>{{$}}
func.func @moe_gate_experts(%x: tensor<Tx64xf32>, %r: tensor<8x64xf32>, %g: tensor<9x256x64xf32>, %u: tensor<8x256x64xf32>, %d: tensor<8x64x256xf32>) -> tensor<Tx64xf32> {
  %y = "llm.moe"(%x, %r, %g, %u, %d) {top_k = 2} : (tensor<Tx64xf32>, tensor<8x64xf32>, tensor<9x256x64xf32>, tensor<8x256x64xf32>, tensor<8x64x256xf32>) -> tensor<Tx64xf32>
  func.return %y : tensor<Tx64xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:289:3: 'llm.moe' op w_up dim D mismatch (tensor<8x256x63xf32>): 63 != 64{{$}}
func.func @moe_up_input(%x: tensor<Tx64xf32>, %r: tensor<8x64xf32>, %g: tensor<8x256x64xf32>, %u: tensor<8x256x63xf32>, %d: tensor<8x64x256xf32>) -> tensor<Tx64xf32> {
  %y = "llm.moe"(%x, %r, %g, %u, %d) {top_k = 2} : (tensor<Tx64xf32>, tensor<8x64xf32>, tensor<8x256x64xf32>, tensor<8x256x63xf32>, tensor<8x64x256xf32>) -> tensor<Tx64xf32>
  func.return %y : tensor<Tx64xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:295:3: 'llm.moe' op w_down dim F mismatch (tensor<8x64x255xf32>): 255 != 256{{$}}
func.func @moe_down_hidden(%x: tensor<Tx64xf32>, %r: tensor<8x64xf32>, %g: tensor<8x256x64xf32>, %d: tensor<8x64x255xf32>) -> tensor<Tx64xf32> {
  %y = "llm.moe"(%x, %r, %g, %g, %d) {top_k = 2} : (tensor<Tx64xf32>, tensor<8x64xf32>, tensor<8x256x64xf32>, tensor<8x256x64xf32>, tensor<8x64x255xf32>) -> tensor<Tx64xf32>
  func.return %y : tensor<Tx64xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:301:3: 'llm.moe' op attribute 'top_k' = 9 must be in 1..8 (the expert count){{$}}
func.func @moe_top_k(%x: tensor<Tx64xf32>, %r: tensor<8x64xf32>, %g: tensor<8x256x64xf32>, %d: tensor<8x64x256xf32>) -> tensor<Tx64xf32> {
  %y = "llm.moe"(%x, %r, %g, %g, %d) {top_k = 9} : (tensor<Tx64xf32>, tensor<8x64xf32>, tensor<8x256x64xf32>, tensor<8x256x64xf32>, tensor<8x64x256xf32>) -> tensor<Tx64xf32>
  func.return %y : tensor<Tx64xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:307:3: 'llm.moe' op attribute 'top_k' = 0 must be in 1..E (the expert count){{$}}
func.func @moe_top_k_symbolic(%x: tensor<TxDxf32>, %r: tensor<ExDxf32>, %g: tensor<ExFxDxf32>, %d: tensor<ExDxFxf32>) -> tensor<TxDxf32> {
  %y = "llm.moe"(%x, %r, %g, %g, %d) {top_k = 0} : (tensor<TxDxf32>, tensor<ExDxf32>, tensor<ExFxDxf32>, tensor<ExFxDxf32>, tensor<ExDxFxf32>) -> tensor<TxDxf32>
  func.return %y : tensor<TxDxf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:313:3: 'llm.moe' op operands must share an element type, found tensor<Tx64xf16>, tensor<8x64xf32>, tensor<8x256x64xf32>, tensor<8x256x64xf32>, tensor<8x64x256xf32>{{$}}
func.func @moe_elements(%x: tensor<Tx64xf16>, %r: tensor<8x64xf32>, %g: tensor<8x256x64xf32>, %d: tensor<8x64x256xf32>) -> tensor<Tx64xf16> {
  %y = "llm.moe"(%x, %r, %g, %g, %d) {top_k = 2} : (tensor<Tx64xf16>, tensor<8x64xf32>, tensor<8x256x64xf32>, tensor<8x256x64xf32>, tensor<8x64x256xf32>) -> tensor<Tx64xf16>
  func.return %y : tensor<Tx64xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:319:3: 'llm.arange' op result must have rank 1, found tensor<2xTxi64>{{$}}
func.func @arange_rank() -> tensor<2xTxi64> {
  %p = "llm.arange"() {start = #pimc.sym<"S">} : () -> tensor<2xTxi64>
  func.return %p : tensor<2xTxi64>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:325:3: 'llm.expand' op operand and result must share an element type, found tensor<Bx1x128xf16>, tensor<Bx8x128xbf16>{{$}}
func.func @expand_element(%x: tensor<Bx1x128xf16>) -> tensor<Bx8x128xbf16> {
  %y = "llm.expand"(%x) : (tensor<Bx1x128xf16>) -> tensor<Bx8x128xbf16>
  func.return %y : tensor<Bx8x128xbf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:331:3: 'llm.expand' op operand of shape [B, 2, 128] does not broadcast to [B, 8, 128]{{$}}
func.func @expand_broadcast(%x: tensor<Bx2x128xf16>) -> tensor<Bx8x128xf16> {
  %y = "llm.expand"(%x) : (tensor<Bx2x128xf16>) -> tensor<Bx8x128xf16>
  func.return %y : tensor<Bx8x128xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:337:3: 'llm.expand' op operand of shape [4, 1, 128] does not broadcast to [8, 128]{{$}}
func.func @expand_rank(%x: tensor<4x1x128xf16>) -> tensor<8x128xf16> {
  %y = "llm.expand"(%x) : (tensor<4x1x128xf16>) -> tensor<8x128xf16>
  func.return %y : tensor<8x128xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:343:3: 'llm.take' op indices must have an integer element type, found tensor<Txf32>{{$}}
func.func @take_indices(%x: tensor<(S+1)x128xf16>, %i: tensor<Txf32>) -> tensor<Tx128xf16> {
  %y = "llm.take"(%x, %i) : (tensor<(S+1)x128xf16>, tensor<Txf32>) -> tensor<Tx128xf16>
  func.return %y : tensor<Tx128xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}llm_ops.mlir:349:3: 'llm.take' op axis 4 is out of range for rank 3 (allowed -3..2){{$}}
func.func @take_axis(%x: tensor<(S+1)x4x128xf16>, %i: tensor<Txi64>) -> tensor<Tx128xf16> {
  %y = "llm.take"(%x, %i) {axis = 4} : (tensor<(S+1)x4x128xf16>, tensor<Txi64>) -> tensor<Tx128xf16>
  func.return %y : tensor<Tx128xf16>
}
