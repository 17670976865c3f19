// Structural verifier errors (pimc/ir/verifier.py and dialects/builtin.py): function bodies,
// terminators, duplicate symbols, operand/result/region counts and inferred result types. Each
// error names the op at file:line:col (plus its loc(...) where it has one) and shows the op.
// RUN: not pimc opt --split-input-file %s 2>&1 | filecheck --strict-whitespace %s

// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:8:1: 'func.func' op must end with func.return, found llm.silu{{$}}
// CHECK-NEXT: {{^}}func.func @no_return(%x: tensor<Bx4xf32>) {{\{$}}
func.func @no_return(%x: tensor<Bx4xf32>) {
  %y = "llm.silu"(%x) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:13:1: 'func.func' op must end with func.return, found an empty body{{$}}
func.func @empty_body() {
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:18:1: 'func.func' op returns (tensor<Bx4xf32>, tensor<Bx4xf16>) but its type promises (tensor<Bx4xf32>, tensor<Bx4xf32>){{$}}
// CHECK-NEXT: {{^}}func.func @wrong_result_types(%x: tensor<Bx4xf32>, %y: tensor<Bx4xf16>) -> (tensor<Bx4xf32>, tensor<Bx4xf32>) {{\{$}}
func.func @wrong_result_types(%x: tensor<Bx4xf32>, %y: tensor<Bx4xf16>) -> (tensor<Bx4xf32>, tensor<Bx4xf32>) {
  func.return %x, %y : tensor<Bx4xf32>, tensor<Bx4xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:23:1: 'func.func' op returns (tensor<(S+1)xi32>) but its type promises (tensor<(S+1)xi32>, tensor<(S+1)xi32>){{$}}
func.func @too_few_results(%x: tensor<(S+1)xi32>) -> (tensor<(S+1)xi32>, tensor<(S+1)xi32>) {
  func.return %x : tensor<(S+1)xi32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:29:1: 'func.func' op must end with func.return, found llm.silu{{$}}
// CHECK-NEXT: {{^}}func.func @return_not_last(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {{\{$}}
func.func @return_not_last(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  func.return %x : tensor<Bx4xf32>
  %y = "llm.silu"(%x) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:37:3: 'func.return' op must be the last op of its block{{$}}
// CHECK-NEXT: {{^}}func.return %x : tensor<Bx4xf32>{{$}}
func.func @two_returns(%x: tensor<Bx4xf32>, %y: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  func.return %x : tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:42:1: 'builtin.module' op defines function @twice more than once{{$}}
builtin.module {
  func.func @twice() {
    func.return
  }
  func.func @once() {
    func.return
  }
  func.func @twice() {
    func.return
  }
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:55:1: 'builtin.module' op has unknown attribute 'target'; allowed: cost, device, kv, subbatch (or a dotted name such as 'pimc.note'){{$}}
builtin.module attributes {target = "neupims"} {
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:59:1: 'func.func' op has unknown attribute 'inline'; allowed: arg_attrs, cost, device, function_type, kv, subbatch, sym_name (or a dotted name such as 'pimc.note'){{$}}
func.func @func_attr() attributes {inline} {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:66:3: 'llm.silu' op expects 1 operand(s), found 2{{$}}
// CHECK-NEXT: {{^}}%z = "llm.silu"(%x, %y) : (tensor<Bx4xf32>, tensor<Bx4xf32>) -> tensor<Bx4xf32>{{$}}
func.func @operand_count(%x: tensor<Bx4xf32>, %y: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %z = "llm.silu"(%x, %y) : (tensor<Bx4xf32>, tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %z : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:72:3: 'llm.linear' op expects 2 to 3 operand(s), found 4{{$}}
func.func @optional_operand_count(%x: tensor<Bx4xf32>, %w: tensor<8x4xf32>) -> tensor<Bx8xf32> {
  %z = "llm.linear"(%x, %w, %w, %w) : (tensor<Bx4xf32>, tensor<8x4xf32>, tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<Bx8xf32>
  func.return %z : tensor<Bx8xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:78:3: 'llm.attention' op expects 3 to 4 operand(s), found 1{{$}}
func.func @too_few_operands(%q: tensor<Bx8x1x64xf16>) -> tensor<Bx8x1x64xf16> {
  %o = "llm.attention"(%q) : (tensor<Bx8x1x64xf16>) -> tensor<Bx8x1x64xf16>
  func.return %o : tensor<Bx8x1x64xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:84:3: 'llm.weight' op expects 0 operand(s), found 1{{$}}
func.func @weight_operands(%x: tensor<4xf32>) -> tensor<4xf32> {
  %w = "llm.weight"(%x) {handle = #pimc.weight<"w">} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %w : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:90:3: 'llm.silu' op expects 1 result(s), found 2{{$}}
func.func @result_count(%x: tensor<Bx4xf32>) {
  %a, %b = "llm.silu"(%x) : (tensor<Bx4xf32>) -> (tensor<Bx4xf32>, tensor<Bx4xf32>)
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:96:3: 'llm.topk' op expects 2 result(s), found 1{{$}}
func.func @topk_result_count(%x: tensor<Bx64xf32>) {
  %v = "llm.topk"(%x) {k = 4} : (tensor<Bx64xf32>) -> tensor<Bx4xf32>
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:103:3: 'llm.silu' op expects 0 region(s), found 2{{$}}
// CHECK-NEXT: {{^}}%y = "llm.silu"(%x) ({{$}}
func.func @regions(%x: tensor<Bx4xf32>) {
  %y = "llm.silu"(%x) ({
    %z = "llm.exp"(%x) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  }, {
  }) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:112:3: 'llm.exp' op expects 0 region(s), found 1{{$}}
func.func @return_in_region(%x: tensor<Bx4xf32>) {
  %y = "llm.exp"(%x) ({
  ^bb0(%a: tensor<Bx4xf32>):
    func.return %a : tensor<Bx4xf32>
  }) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:122:3: 'llm.silu' op result #0 should be tensor<Bx(S+1)x4096xf16>, found tensor<Bx(S+1)x4096xf32>{{$}}
// CHECK-NEXT: {{^}}%y = "llm.silu"(%x) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf32>{{$}}
func.func @result_type(%x: tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf32> {
  %y = "llm.silu"(%x) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf32>
  func.return %y : tensor<Bx(S+1)x4096xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:128:3: 'llm.topk' op result #1 should be tensor<(B*S)x8xi64>, found tensor<(B*S)x8xi32>{{$}}
func.func @second_result_type(%x: tensor<(B*S)x64xf32>) {
  %v, %i = "llm.topk"(%x) {k = 8} : (tensor<(B*S)x64xf32>) -> (tensor<(B*S)x8xf32>, tensor<(B*S)x8xi32>)
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:134:3: 'llm.add' op result #0 should be tensor<Bx(S+1)xf32>, found tensor<BxSxf32>{{$}}
func.func @result_shape_symbolic(%x: tensor<Bx(S+1)xf32>, %y: tensor<Bx1xf32>) -> tensor<BxSxf32> {
  %z = "llm.add"(%x, %y) : (tensor<Bx(S+1)xf32>, tensor<Bx1xf32>) -> tensor<BxSxf32>
  func.return %z : tensor<BxSxf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:140:3 (from model.layers.3.mlp (modeling_llama.py:182:16)): 'llm.silu' op has unknown attribute 'axis'; allowed: cost, device, kv, subbatch (or a dotted name such as 'pimc.note'){{$}}
func.func @error_names_the_location(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.silu"(%x) {axis = 1} : (tensor<Bx4xf32>) -> tensor<Bx4xf32> loc("model.layers.3.mlp"("modeling_llama.py":182:16))
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}structure.mlir:146:3 (from model.py:7:9): 'llm.exp' op expects 1 operand(s), found 2{{$}}
func.func @error_names_a_file_location(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.exp"(%x, %x) : (tensor<Bx4xf32>, tensor<Bx4xf32>) -> tensor<Bx4xf32> loc("model.py":7:9)
  func.return %y : tensor<Bx4xf32>
}
