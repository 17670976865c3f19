// Attribute verification (OpDef.attr_values in pimc/ir/opdef.py): required attributes, each
// attribute kind, choices, unknown names and the attributes passes set on any op.
// RUN: not pimc opt --split-input-file %s 2>&1 | filecheck --strict-whitespace %s

// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:8:3: 'llm.reduce_sum' op requires attribute 'axes' (an array of integers){{$}}
// CHECK-NEXT: {{^}}%y = "llm.reduce_sum"(%x) {keepdim = false} : (tensor<BxSx64xf32>) -> tensor<BxSxf32>{{$}}
func.func @required(%x: tensor<BxSx64xf32>) -> tensor<BxSxf32> {
  %y = "llm.reduce_sum"(%x) {keepdim = false} : (tensor<BxSx64xf32>) -> tensor<BxSxf32>
  func.return %y : tensor<BxSxf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:14:3: 'llm.pow_scalar' op requires attribute 'exponent' (a float){{$}}
func.func @required_float(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.pow_scalar"(%x) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:20:3: 'llm.weight' op requires attribute 'handle' (#pimc.weight<"name">){{$}}
func.func @required_weight() -> tensor<4096xf16> {
  %w = "llm.weight"() : () -> tensor<4096xf16>
  func.return %w : tensor<4096xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:26:3: 'llm.slice' op requires attribute 'start' (an integer or #pimc.sym<"expr">){{$}}
func.func @required_dim(%x: tensor<Sx4xf32>) -> tensor<Sx4xf32> {
  %y = "llm.slice"(%x) {axis = 0, end = #pimc.sym<"S">} : (tensor<Sx4xf32>) -> tensor<Sx4xf32>
  func.return %y : tensor<Sx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:32:3: 'llm.topk' op attribute 'k' must be an integer, found 2.5{{$}}
func.func @int_kind(%x: tensor<Bx64xf32>) {
  %v, %i = "llm.topk"(%x) {k = 2.5} : (tensor<Bx64xf32>) -> (tensor<Bx2xf32>, tensor<Bx2xi64>)
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:38:3: 'llm.softmax' op attribute 'axis' must be an integer, found "-1"{{$}}
func.func @int_kind_string(%x: tensor<BxSx4xf32>) -> tensor<BxSx4xf32> {
  %y = "llm.softmax"(%x) {axis = "-1"} : (tensor<BxSx4xf32>) -> tensor<BxSx4xf32>
  func.return %y : tensor<BxSx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:44:3: 'llm.transpose' op attribute 'perm' must be an array of integers, found [0, 2.0, 1]{{$}}
func.func @ints_kind(%x: tensor<Bx4x8xf32>) -> tensor<Bx8x4xf32> {
  %y = "llm.transpose"(%x) {perm = [0, 2.0, 1]} : (tensor<Bx4x8xf32>) -> tensor<Bx8x4xf32>
  func.return %y : tensor<Bx8x4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:50:3: 'llm.reduce_max' op attribute 'axes' must be an array of integers, found 1{{$}}
func.func @ints_kind_scalar(%x: tensor<Bx4xf32>) -> tensor<Bxf32> {
  %y = "llm.reduce_max"(%x) {axes = 1} : (tensor<Bx4xf32>) -> tensor<Bxf32>
  func.return %y : tensor<Bxf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:57:3: 'llm.attention' op attribute 'causal' must be true or false, found unit{{$}}
// CHECK-NEXT: {{^}}%o = "llm.attention"(%q, %k, %k) {causal} : (tensor<Bx8x1x64xf16>, tensor<Bx8xSx64xf16>, tensor<Bx8xSx64xf16>) -> tensor<Bx8x1x64xf16>{{$}}
func.func @bool_kind_unit(%q: tensor<Bx8x1x64xf16>, %k: tensor<Bx8xSx64xf16>) -> tensor<Bx8x1x64xf16> {
  %o = "llm.attention"(%q, %k, %k) {causal} : (tensor<Bx8x1x64xf16>, tensor<Bx8xSx64xf16>, tensor<Bx8xSx64xf16>) -> tensor<Bx8x1x64xf16>
  func.return %o : tensor<Bx8x1x64xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:63:3: 'llm.matmul' op attribute 'transpose_b' must be true or false, found 0{{$}}
func.func @bool_kind_int(%a: tensor<Bx4x8xf16>, %b: tensor<8x16xf16>) -> tensor<Bx4x16xf16> {
  %c = "llm.matmul"(%a, %b) {transpose_b = 0} : (tensor<Bx4x8xf16>, tensor<8x16xf16>) -> tensor<Bx4x16xf16>
  func.return %c : tensor<Bx4x16xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:69:3: 'llm.rmsnorm' op attribute 'eps' must be a float, found "1e-6"{{$}}
func.func @float_kind(%x: tensor<Bx4096xf32>, %w: tensor<4096xf32>) -> tensor<Bx4096xf32> {
  %y = "llm.rmsnorm"(%x, %w) {eps = "1e-6"} : (tensor<Bx4096xf32>, tensor<4096xf32>) -> tensor<Bx4096xf32>
  func.return %y : tensor<Bx4096xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:75:3: 'llm.constant' op attribute 'value' must be a float, found true{{$}}
func.func @float_kind_bool() -> tensor<f32> {
  %c = "llm.constant"() {value = true} : () -> tensor<f32>
  func.return %c : tensor<f32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:81:3: 'llm.gelu' op attribute 'approximate' must be a string, found @tanh{{$}}
func.func @str_kind(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.gelu"(%x) {approximate = @tanh} : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:87:3: 'llm.weight' op attribute 'handle' must be #pimc.weight<"name">, found "model.norm.weight"{{$}}
func.func @weight_kind() -> tensor<4096xf16> {
  %w = "llm.weight"() {handle = "model.norm.weight"} : () -> tensor<4096xf16>
  func.return %w : tensor<4096xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:93:3: 'llm.slice' op attribute 'end' must be an integer or #pimc.sym<"expr">, found "S"{{$}}
func.func @dim_kind(%x: tensor<Sx4xf32>) -> tensor<Sx4xf32> {
  %y = "llm.slice"(%x) {axis = 0, start = 0, end = "S"} : (tensor<Sx4xf32>) -> tensor<Sx4xf32>
  func.return %y : tensor<Sx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:100:3: 'llm.rope' op attribute 'style' must be one of 'half', 'interleaved', found "neox"{{$}}
// CHECK-NEXT: {{^}}%y = "llm.rope"(%x, %c, %c) {style = "neox"} : (tensor<Bx32xSx128xf16>, tensor<Sx128xf16>, tensor<Sx128xf16>) -> tensor<Bx32xSx128xf16>{{$}}
func.func @choices(%x: tensor<Bx32xSx128xf16>, %c: tensor<Sx128xf16>) -> tensor<Bx32xSx128xf16> {
  %y = "llm.rope"(%x, %c, %c) {style = "neox"} : (tensor<Bx32xSx128xf16>, tensor<Sx128xf16>, tensor<Sx128xf16>) -> tensor<Bx32xSx128xf16>
  func.return %y : tensor<Bx32xSx128xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:106:3: 'llm.gelu' op attribute 'approximate' must be one of 'none', 'tanh', found "erf"{{$}}
func.func @choices_gelu(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.gelu"(%x) {approximate = "erf"} : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:113:3: 'llm.softmax' op has unknown attribute 'axes'; allowed: axis, cost, device, kv, subbatch (or a dotted name such as 'pimc.note'){{$}}
// CHECK-NEXT: {{^}}%y = "llm.softmax"(%x) {axes = [1]} : (tensor<BxSx4xf32>) -> tensor<BxSx4xf32>{{$}}
func.func @unknown(%x: tensor<BxSx4xf32>) -> tensor<BxSx4xf32> {
  %y = "llm.softmax"(%x) {axes = [1]} : (tensor<BxSx4xf32>) -> tensor<BxSx4xf32>
  func.return %y : tensor<BxSx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:119:3: 'llm.slice' op has unknown attribute 'stride'; allowed: axis, cost, device, end, kv, start, step, subbatch (or a dotted name such as 'pimc.note'){{$}}
func.func @unknown_on_slice(%x: tensor<Sx4xf32>) -> tensor<Sx4xf32> {
  %y = "llm.slice"(%x) {axis = 0, start = 0, end = #pimc.sym<"S">, stride = 2} : (tensor<Sx4xf32>) -> tensor<Sx4xf32>
  func.return %y : tensor<Sx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:125:3: 'llm.silu' op attribute 'device' must be #pimc.device<"...">, found "pim"{{$}}
func.func @common_device(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.silu"(%x) {device = "pim"} : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:131:3: 'llm.silu' op attribute 'cost' must be a dictionary of flops, bytes and op_b, each a number, #pimc.sym<...> or #pimc.expr<...>, found [1, 2]{{$}}
func.func @common_cost(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.silu"(%x) {cost = [1, 2]} : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:137:3: 'llm.silu' op attribute 'kv' must be a dictionary, found "l2norm"{{$}}
func.func @common_kv(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.silu"(%x) {kv = "l2norm"} : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:143:3: 'llm.silu' op attribute 'subbatch' must be an integer, found 1.5{{$}}
func.func @common_subbatch(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.silu"(%x) {subbatch = 1.5} : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attributes.mlir:148:1: 'func.func' op attribute 'device' must be #pimc.device<"...">, found #pimc.weight<"w">{{$}}
func.func @common_on_func() attributes {device = #pimc.weight<"w">} {
  func.return
}
