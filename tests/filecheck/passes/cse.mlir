// cse: pure ops with the same name, operands, attributes and result types merge (weights with
// the same handle, chains that become equal once their operands merge, NaN constants); ops that
// differ in an attribute or a result type stay, and functions do not share values.
// RUN: pimc opt %s -p cse | filecheck --match-full-lines %s

// CHECK: builtin.module {
builtin.module {
  // CHECK-LABEL: func.func @weights(%x: tensor<Bx1x4096xf16>) -> (tensor<Bx1x11008xf16>, tensor<Bx1x11008xf16>) {
  // CHECK-NEXT: %w1 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.mlp.up_proj.weight">} : () -> tensor<4096x11008xf16>
  // CHECK-NOT: {{.*}}%w2 = {{.*}}
  // CHECK: %w3 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.mlp.gate_proj.weight">} : () -> tensor<4096x11008xf16>
  // CHECK-NEXT: %a = "llm.matmul"(%x, %w1) : (tensor<Bx1x4096xf16>, tensor<4096x11008xf16>) -> tensor<Bx1x11008xf16>
  // CHECK-NOT: {{.*}}%b = {{.*}}
  // CHECK: %c = "llm.matmul"(%x, %w3) : (tensor<Bx1x4096xf16>, tensor<4096x11008xf16>) -> tensor<Bx1x11008xf16>
  // CHECK-NEXT: %s = "llm.add"(%a, %a) : (tensor<Bx1x11008xf16>, tensor<Bx1x11008xf16>) -> tensor<Bx1x11008xf16>
  // CHECK-NEXT: func.return %s, %c : tensor<Bx1x11008xf16>, tensor<Bx1x11008xf16>
  // CHECK-NEXT: }
  func.func @weights(%x: tensor<Bx1x4096xf16>) -> (tensor<Bx1x11008xf16>, tensor<Bx1x11008xf16>) {
    %w1 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.mlp.up_proj.weight">} : () -> tensor<4096x11008xf16>
    %w2 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.mlp.up_proj.weight">} : () -> tensor<4096x11008xf16>
    %w3 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.mlp.gate_proj.weight">} : () -> tensor<4096x11008xf16>
    %a = "llm.matmul"(%x, %w1) : (tensor<Bx1x4096xf16>, tensor<4096x11008xf16>) -> tensor<Bx1x11008xf16>
    %b = "llm.matmul"(%x, %w2) : (tensor<Bx1x4096xf16>, tensor<4096x11008xf16>) -> tensor<Bx1x11008xf16>
    %c = "llm.matmul"(%x, %w3) : (tensor<Bx1x4096xf16>, tensor<4096x11008xf16>) -> tensor<Bx1x11008xf16>
    %s = "llm.add"(%a, %b) : (tensor<Bx1x11008xf16>, tensor<Bx1x11008xf16>) -> tensor<Bx1x11008xf16>
    func.return %s, %c : tensor<Bx1x11008xf16>, tensor<Bx1x11008xf16>
  }
  // CHECK-LABEL: func.func @chains(%x: tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32> {
  // CHECK-NEXT: %a1 = "llm.silu"(%x) : (tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
  // CHECK-NOT: {{.*}}%a2 = {{.*}}
  // CHECK: %b1 = "llm.exp"(%a1) : (tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
  // CHECK-NOT: {{.*}}%b2 = {{.*}}
  // CHECK: %c = "llm.mul"(%b1, %b1) : (tensor<Bx(S+1)xf32>, tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
  // CHECK-NEXT: func.return %c : tensor<Bx(S+1)xf32>
  // CHECK-NEXT: }
  func.func @chains(%x: tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32> {
    %a1 = "llm.silu"(%x) : (tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
    %a2 = "llm.silu"(%x) : (tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
    %b1 = "llm.exp"(%a1) : (tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
    %b2 = "llm.exp"(%a2) : (tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
    %c = "llm.mul"(%b1, %b2) : (tensor<Bx(S+1)xf32>, tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
    func.return %c : tensor<Bx(S+1)xf32>
  }
  // CHECK-LABEL: func.func @attributes_differ(%x: tensor<BxSx64xf32>) -> (tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>) {
  // CHECK-NEXT: %s1 = "llm.softmax"(%x) {axis = -1} : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
  // CHECK-NEXT: %s2 = "llm.softmax"(%x) {axis = 1} : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
  // CHECK-NEXT: %g1 = "llm.gelu"(%x) : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
  // CHECK-NEXT: %g2 = "llm.gelu"(%x) {approximate = "tanh"} : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
  // CHECK-NEXT: %p1 = "llm.silu"(%x) {device = #pimc.device<"pim">} : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
  // CHECK-NEXT: func.return %s1, %s2, %g1, %g2, %p1 : tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>
  // CHECK-NEXT: }
  func.func @attributes_differ(%x: tensor<BxSx64xf32>) -> (tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>) {
    %s1 = "llm.softmax"(%x) {axis = -1} : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
    %s2 = "llm.softmax"(%x) {axis = 1} : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
    %g1 = "llm.gelu"(%x) : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
    %g2 = "llm.gelu"(%x) {approximate = "tanh"} : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
    %p1 = "llm.silu"(%x) {device = #pimc.device<"pim">} : (tensor<BxSx64xf32>) -> tensor<BxSx64xf32>
    func.return %s1, %s2, %g1, %g2, %p1 : tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>, tensor<BxSx64xf32>
  }
  // CHECK-LABEL: func.func @result_types_differ(%x: tensor<BxSx4096xf16>) -> (tensor<(B*S)x4096xf16>, tensor<Bx(32*S)x128xf16>, tensor<BxSx4096xf32>, tensor<BxSx4096xbf16>) {
  // CHECK-NEXT: %r1 = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<(B*S)x4096xf16>
  // CHECK-NEXT: %r2 = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<Bx(32*S)x128xf16>
  // CHECK-NEXT: %c1 = "llm.cast"(%x) : (tensor<BxSx4096xf16>) -> tensor<BxSx4096xf32>
  // CHECK-NEXT: %c2 = "llm.cast"(%x) : (tensor<BxSx4096xf16>) -> tensor<BxSx4096xbf16>
  // CHECK-NEXT: func.return %r1, %r2, %c1, %c2 : tensor<(B*S)x4096xf16>, tensor<Bx(32*S)x128xf16>, tensor<BxSx4096xf32>, tensor<BxSx4096xbf16>
  // CHECK-NEXT: }
  func.func @result_types_differ(%x: tensor<BxSx4096xf16>) -> (tensor<(B*S)x4096xf16>, tensor<Bx(32*S)x128xf16>, tensor<BxSx4096xf32>, tensor<BxSx4096xbf16>) {
    %r1 = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<(B*S)x4096xf16>
    %r2 = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<Bx(32*S)x128xf16>
    %c1 = "llm.cast"(%x) : (tensor<BxSx4096xf16>) -> tensor<BxSx4096xf32>
    %c2 = "llm.cast"(%x) : (tensor<BxSx4096xf16>) -> tensor<BxSx4096xbf16>
    func.return %r1, %r2, %c1, %c2 : tensor<(B*S)x4096xf16>, tensor<Bx(32*S)x128xf16>, tensor<BxSx4096xf32>, tensor<BxSx4096xbf16>
  }
  // CHECK-LABEL: func.func @per_function(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK-NEXT: %w = "llm.weight"() {handle = #pimc.weight<"model.layers.0.mlp.up_proj.weight">} : () -> tensor<4096x11008xf16>
  // CHECK-NEXT: %c1 = "llm.constant"() {value = 1.0} : () -> tensor<4xf32>
  // CHECK-NEXT: %c3 = "llm.constant"() {value = nan} : () -> tensor<4xf32>
  // CHECK-NEXT: %s = "llm.add"(%c1, %c1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: %t = "llm.add"(%c3, %c3) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: %u = "llm.add"(%s, %t) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: func.return %u : tensor<4xf32>
  // CHECK-NEXT: }
  func.func @per_function(%x: tensor<4xf32>) -> tensor<4xf32> {
    %w = "llm.weight"() {handle = #pimc.weight<"model.layers.0.mlp.up_proj.weight">} : () -> tensor<4096x11008xf16>
    %c1 = "llm.constant"() {value = 1.0} : () -> tensor<4xf32>
    %c2 = "llm.constant"() {value = 1.0} : () -> tensor<4xf32>
    %c3 = "llm.constant"() {value = nan} : () -> tensor<4xf32>
    %c4 = "llm.constant"() {value = nan} : () -> tensor<4xf32>
    %s = "llm.add"(%c1, %c2) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %t = "llm.add"(%c3, %c4) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %u = "llm.add"(%s, %t) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    func.return %u : tensor<4xf32>
  }
}
// CHECK-NEXT: }
