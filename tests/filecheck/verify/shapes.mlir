// Errors of the shared shape-rule helpers in pimc/ir/shapes.py (tensor, rank, element type,
// broadcasting, axes), each reached through an llm op.
// RUN: not pimc opt --split-input-file %s 2>&1 | filecheck --strict-whitespace %s

// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:8:3: 'llm.silu' op operand must be a tensor, found f32{{$}}
// CHECK-NEXT: {{^}}%y = "llm.silu"(%x) : (f32) -> f32{{$}}
func.func @not_a_tensor(%x: f32) -> f32 {
  %y = "llm.silu"(%x) : (f32) -> f32
  func.return %y : f32
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:14:3: 'llm.cast' op operand must be a tensor, found !kv.cache<tensor<Bx8xSx128xf16>>{{$}}
func.func @dialect_type_operand(%c: !kv.cache<tensor<Bx8xSx128xf16>>) -> tensor<Bx8xSx128xf16> {
  %y = "llm.cast"(%c) : (!kv.cache<tensor<Bx8xSx128xf16>>) -> tensor<Bx8xSx128xf16>
  func.return %y : tensor<Bx8xSx128xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:20:3: 'llm.weight' op result must be a tensor, found i32{{$}}
func.func @result_not_a_tensor() -> i32 {
  %w = "llm.weight"() {handle = #pimc.weight<"model.step">} : () -> i32
  func.return %w : i32
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:26:3: 'llm.constant' op result must be a tensor, found f16{{$}}
func.func @constant_not_a_tensor() -> f16 {
  %c = "llm.constant"() {value = 0.5} : () -> f16
  func.return %c : f16
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:32:3: 'llm.linear' op w must have rank 2, found tensor<4x11008x4096xf16>{{$}}
func.func @exact_rank(%x: tensor<Bx4096xf16>, %w: tensor<4x11008x4096xf16>) -> tensor<Bx11008xf16> {
  %y = "llm.linear"(%x, %w) : (tensor<Bx4096xf16>, tensor<4x11008x4096xf16>) -> tensor<Bx11008xf16>
  func.return %y : tensor<Bx11008xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:38:3: 'llm.matmul' op b must have rank >= 2, found tensor<4096xf16>{{$}}
func.func @min_rank(%a: tensor<Bx1x4096xf16>, %b: tensor<4096xf16>) -> tensor<Bx1xf16> {
  %c = "llm.matmul"(%a, %b) : (tensor<Bx1x4096xf16>, tensor<4096xf16>) -> tensor<Bx1xf16>
  func.return %c : tensor<Bx1xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:45:3: 'llm.add' op operands must share an element type, found tensor<Bx(S+1)xf16>, tensor<Bx(S+1)xbf16>{{$}}
// CHECK-NEXT: {{^}}%c = "llm.add"(%a, %b) : (tensor<Bx(S+1)xf16>, tensor<Bx(S+1)xbf16>) -> tensor<Bx(S+1)xf16>{{$}}
func.func @element_types_differ(%a: tensor<Bx(S+1)xf16>, %b: tensor<Bx(S+1)xbf16>) -> tensor<Bx(S+1)xf16> {
  %c = "llm.add"(%a, %b) : (tensor<Bx(S+1)xf16>, tensor<Bx(S+1)xbf16>) -> tensor<Bx(S+1)xf16>
  func.return %c : tensor<Bx(S+1)xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:51:3: 'llm.exp' op operand must have a float element type, found tensor<(2*B)xi32>{{$}}
func.func @float_required(%x: tensor<(2*B)xi32>) -> tensor<(2*B)xi32> {
  %y = "llm.exp"(%x) : (tensor<(2*B)xi32>) -> tensor<(2*B)xi32>
  func.return %y : tensor<(2*B)xi32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:57:3: 'llm.embedding' op ids must have an integer element type, found tensor<BxSxf32>{{$}}
func.func @int_required(%ids: tensor<BxSxf32>, %table: tensor<32000x4096xf16>) -> tensor<BxSx4096xf16> {
  %e = "llm.embedding"(%ids, %table) : (tensor<BxSxf32>, tensor<32000x4096xf16>) -> tensor<BxSx4096xf16>
  func.return %e : tensor<BxSx4096xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:64:3: 'llm.mul' op shapes [B, (S+1), 4096] and [B, S, 1] do not broadcast (dim -2: (S+1) vs S){{$}}
// CHECK-NEXT: {{^}}%c = "llm.mul"(%a, %b) : (tensor<Bx(S+1)x4096xf32>, tensor<BxSx1xf32>) -> tensor<Bx(S+1)x4096xf32>{{$}}
func.func @no_broadcast(%a: tensor<Bx(S+1)x4096xf32>, %b: tensor<BxSx1xf32>) -> tensor<Bx(S+1)x4096xf32> {
  %c = "llm.mul"(%a, %b) : (tensor<Bx(S+1)x4096xf32>, tensor<BxSx1xf32>) -> tensor<Bx(S+1)x4096xf32>
  func.return %c : tensor<Bx(S+1)x4096xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:70:3: 'llm.sub' op shapes [4, 8] and [3, 1] do not broadcast (dim -2: 4 vs 3){{$}}
func.func @no_broadcast_static(%a: tensor<4x8xf32>, %b: tensor<3x1xf32>) -> tensor<4x8xf32> {
  %c = "llm.sub"(%a, %b) : (tensor<4x8xf32>, tensor<3x1xf32>) -> tensor<4x8xf32>
  func.return %c : tensor<4x8xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:76:3: 'llm.softmax' op axis 5 is out of range for rank 3 (allowed -3..2){{$}}
func.func @axis_range(%x: tensor<BxSx64xf32>) -> tensor<BxSx64xf32> {
  %y = "llm.softmax"(%x) {axis = 5} : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
  func.return %y : tensor<BxSx64xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}shapes.mlir:82:3: 'llm.reduce_mean' op axis -3 is out of range for rank 2 (allowed -2..1){{$}}
func.func @axis_range_negative(%x: tensor<Bx64xf32>) -> tensor<Bxf32> {
  %y = "llm.reduce_mean"(%x) {axes = [-3]} : (tensor<Bx64xf32>) -> tensor<Bxf32>
  func.return %y : tensor<Bxf32>
}
