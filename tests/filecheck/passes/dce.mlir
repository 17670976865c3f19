// dce: unused pure ops go, whole chains in one sweep; returned values and the ops they need stay,
// and a multi-result op stays while any result is used.
// RUN: pimc opt %s -p dce | filecheck --match-full-lines %s

// CHECK: builtin.module {
builtin.module {
  // CHECK-LABEL: func.func @dead_chain(%x: tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16> {
  // CHECK-NEXT: %w = "llm.weight"() {handle = #pimc.weight<"model.norm.weight">} : () -> tensor<4096xf16>
  // CHECK-NEXT: %n = "llm.rmsnorm"(%x, %w) : (tensor<Bx(S+1)x4096xf16>, tensor<4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NOT: {{.*}}%dead{{.*}}
  // CHECK: %live = "llm.gelu"(%n) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: func.return %live : tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: }
  func.func @dead_chain(%x: tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16> {
    %w = "llm.weight"() {handle = #pimc.weight<"model.norm.weight">} : () -> tensor<4096xf16>
    %n = "llm.rmsnorm"(%x, %w) : (tensor<Bx(S+1)x4096xf16>, tensor<4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %dead1 = "llm.silu"(%n) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %dead2 = "llm.mul"(%dead1, %x) : (tensor<Bx(S+1)x4096xf16>, tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %dead3 = "llm.reduce_sum"(%dead2) {axes = [-1]} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)xf16>
    %live = "llm.gelu"(%n) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    func.return %live : tensor<Bx(S+1)x4096xf16>
  }
  // CHECK-LABEL: func.func @everything_dead(%x: tensor<BxSx64xf32>) {
  // CHECK-NOT: {{.*}}"llm.{{.*}}
  // CHECK: func.return
  // CHECK-NEXT: }
  func.func @everything_dead(%x: tensor<BxSx64xf32>) {
    %a = "llm.exp"(%x) : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
    %v, %i = "llm.topk"(%a) {k = 4} : (tensor<BxSx64xf32>) -> (tensor<BxSx4xf32>, tensor<BxSx4xi64>)
    %c = "llm.constant"() {value = 0.0} : () -> tensor<f32>
    func.return
  }
  // CHECK-LABEL: func.func @one_result_used(%x: tensor<(B*S)x64xf32>) -> tensor<(B*S)x8xi64> {
  // CHECK-NEXT: %v, %i = "llm.topk"(%x) {k = 8} : (tensor<(B*S)x64xf32>) -> (tensor<(B*S)x8xf32>, tensor<(B*S)x8xi64>)
  // CHECK-NEXT: func.return %i : tensor<(B*S)x8xi64>
  // CHECK-NEXT: }
  func.func @one_result_used(%x: tensor<(B*S)x64xf32>) -> tensor<(B*S)x8xi64> {
    %v, %i = "llm.topk"(%x) {k = 8} : (tensor<(B*S)x64xf32>) -> (tensor<(B*S)x8xf32>, tensor<(B*S)x8xi64>)
    func.return %i : tensor<(B*S)x8xi64>
  }
  // CHECK-LABEL: func.func @returned_values_stay(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  // CHECK-NEXT: %a = "llm.neg"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: %b = "llm.sqrt"(%a) : (tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: func.return %a, %b : tensor<4xf32>, tensor<4xf32>
  // CHECK-NEXT: }
  func.func @returned_values_stay(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
    %a = "llm.neg"(%x) : (tensor<4xf32>) -> tensor<4xf32>
    %b = "llm.sqrt"(%a) : (tensor<4xf32>) -> tensor<4xf32>
    func.return %a, %b : tensor<4xf32>, tensor<4xf32>
  }
}
// CHECK-NEXT: }
