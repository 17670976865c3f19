// Round trip of builtin.module / func.func / func.return: module and function attributes,
// argument attribute dictionaries, multiple and no results, no arguments, the three location
// forms on ops, returns, functions and modules, value renaming, the 'module' keyword, top-level
// functions without a module, empty dictionaries and a signature split over lines.
// RUN: pimc opt --split-input-file %s | pimc opt --split-input-file - | filecheck --match-full-lines %s

// CHECK: builtin.module attributes {pimc.batch = #pimc.sym<"B">, pimc.target = "neupims"} {
builtin.module attributes {pimc.target = "neupims", pimc.batch = #pimc.sym<"B">} {
  // Comments are dropped; attribute dictionaries print sorted.
  // CHECK-LABEL: func.func @multi(%x: tensor<Bx(S+1)x4096xf16> {pimc.donate, pimc.name = "hidden"}, %w: tensor<4096xf16>, %c: !kv.cache<tensor<Bx8xSx128xf16>, "fp16">) -> (tensor<Bx(S+1)x4096xf16>, tensor<4096xf16>, !kv.cache<tensor<Bx8xSx128xf16>, "fp16">) attributes {pimc.entry, pimc.layer = 3} {
  // CHECK-NEXT: %n = "llm.rmsnorm"(%x, %w) {eps = 1e-06} : (tensor<Bx(S+1)x4096xf16>, tensor<4096xf16>) -> tensor<Bx(S+1)x4096xf16> loc("modeling_llama.py":75:16)
  // CHECK-NEXT: %s = "llm.silu"(%n) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16> loc("model.layers.0.mlp.act_fn")
  // CHECK-NEXT: %m = "llm.mul"(%s, %n) : (tensor<Bx(S+1)x4096xf16>, tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16> loc("model.layers.0.mlp"("modeling_llama.py":160:31))
  // CHECK-NEXT: %spaced = "llm.neg"(%m) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16> loc("with spaces"("a b.py":1:2))
  // CHECK-NEXT: func.return %spaced, %w, %c : tensor<Bx(S+1)x4096xf16>, tensor<4096xf16>, !kv.cache<tensor<Bx8xSx128xf16>, "fp16"> loc("return.py":9:1)
  // CHECK-NEXT: } loc("decode")
  func.func @multi(%x: tensor<Bx(S+1)x4096xf16> {pimc.name = "hidden", pimc.donate}, %w: tensor<4096xf16>, %c: !kv.cache<tensor<Bx8xSx128xf16>, "fp16">) -> (tensor<Bx(S+1)x4096xf16>, tensor<4096xf16>, !kv.cache<tensor<Bx8xSx128xf16>, "fp16">) attributes {pimc.entry, pimc.layer = 3} {
    %n = "llm.rmsnorm"(%x, %w) {eps = 1e-06} : (tensor<Bx(S+1)x4096xf16>, tensor<4096xf16>) -> tensor<Bx(S+1)x4096xf16> loc("modeling_llama.py":75:16)
    %s = "llm.silu"(%n) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16> loc("model.layers.0.mlp.act_fn")
    %m = "llm.mul"(%s, %n) : (tensor<Bx(S+1)x4096xf16>, tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16> loc("model.layers.0.mlp"("modeling_llama.py":160:31))
    %spaced = "llm.neg"(%m) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16> loc( "with spaces" ( "a b.py" : 1 : 2 ) )
    func.return %spaced, %w, %c : tensor<Bx(S+1)x4096xf16>, tensor<4096xf16>, !kv.cache<tensor<Bx8xSx128xf16>, "fp16"> loc("return.py":9:1)
  } loc("decode")
  // CHECK-LABEL: func.func @no_results(%x: tensor<4xf32>) {
  // CHECK-NEXT: %0 = "llm.exp"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: func.return
  // CHECK-NEXT: }
  func.func @no_results(%x: tensor<4xf32>) {
    %0 = "llm.exp"(%x) : (tensor<4xf32>) -> tensor<4xf32>
    func.return
  }
  // CHECK-LABEL: func.func @no_args() -> tensor<2x3xf32> {
  // CHECK-NEXT: %c = "llm.constant"() {value = 0.0} : () -> tensor<2x3xf32>
  // CHECK-NEXT: func.return %c : tensor<2x3xf32>
  // CHECK-NEXT: }
  func.func @no_args() -> tensor<2x3xf32> {
    %c = "llm.constant"() {value = 0.0} : () -> tensor<2x3xf32>
    func.return %c : tensor<2x3xf32>
  }
  // CHECK-LABEL: func.func @empty() {
  // CHECK-NEXT: func.return
  // CHECK-NEXT: }
  func.func @empty() {
    func.return
  }
  // CHECK-LABEL: func.func @names(%arg0: tensor<4xf32>, %a.b$c-d: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  // CHECK-NEXT: %0 = "llm.add"(%arg0, %a.b$c-d) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: %1 = "llm.sub"(%0, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: %x_1 = "llm.mul"(%1, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: func.return %0, %1, %x_1 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  // CHECK-NEXT: }
  func.func @names(%arg0: tensor<4xf32>, %a.b$c-d: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
    %7 = "llm.add"(%arg0, %a.b$c-d) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %3 = "llm.sub"(%7, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %x_1 = "llm.mul"(%3, %7) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    func.return %7, %3, %x_1 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  }
  // CHECK-LABEL: func.func @same_names_in_another_function(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK-NEXT: %0 = "llm.relu"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: func.return %0 : tensor<4xf32>
  // CHECK-NEXT: }
  func.func @same_names_in_another_function(%arg0: tensor<4xf32>) -> tensor<4xf32> {
    %7 = "llm.relu"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
    func.return %7 : tensor<4xf32>
  }
} loc("model.mlir":1:1)
// CHECK-NEXT: } loc("model.mlir":1:1)
// -----
// CHECK-NEXT: // -----
// CHECK-NEXT: builtin.module {
module {
  // CHECK-LABEL: func.func @module_keyword(%x: tensor<i64>) -> tensor<i64> {
  // CHECK-NEXT: func.return %x : tensor<i64>
  // CHECK-NEXT: }
  func.func @module_keyword(%x: tensor<i64>) -> tensor<i64> {
    func.return %x : tensor<i64>
  }
}
// CHECK-NEXT: }
// -----
// CHECK-NEXT: // -----
// CHECK-NEXT: builtin.module {
// CHECK-LABEL: func.func @top_level_functions_get_a_module(%x: tensor<Bxi1>) -> tensor<Bxi1> {
// CHECK-NEXT: func.return %x : tensor<Bxi1>
// CHECK-NEXT: }
func.func @top_level_functions_get_a_module(%x: tensor<Bxi1>) -> tensor<Bxi1> {
  func.return %x : tensor<Bxi1>
}
// CHECK-LABEL: func.func @second(%x: tensor<Bxi4>, %y: tensor<Bxi2>) -> (tensor<Bxi4>, tensor<Bxi2>) {
// CHECK-NEXT: func.return %x, %y : tensor<Bxi4>, tensor<Bxi2>
// CHECK-NEXT: }
func.func @second(%x: tensor<Bxi4>, %y: tensor<Bxi2>) -> (tensor<Bxi4>, tensor<Bxi2>) {
  func.return %x, %y : tensor<Bxi4>, tensor<Bxi2>
}
// CHECK-NEXT: }
// -----
// CHECK-NEXT: // -----
// CHECK-NEXT: builtin.module {
// CHECK-NEXT: }
builtin.module {
}
// -----
// CHECK-NEXT: // -----
// CHECK-NEXT: builtin.module {
builtin.module attributes {} {
  // CHECK-LABEL: func.func @empty_dicts(%x: tensor<4xf64>) -> tensor<4xf64> {
  // CHECK-NEXT: %y = "llm.sqrt"(%x) : (tensor<4xf64>) -> tensor<4xf64>
  // CHECK-NEXT: func.return %y : tensor<4xf64>
  // CHECK-NEXT: }
  func.func @empty_dicts(%x: tensor<4xf64> {}) -> tensor<4xf64> attributes {} {
    %y = "llm.sqrt"(%x) {} : (tensor<4xf64>) -> tensor<4xf64>
    func.return %y : tensor<4xf64>
  }
}
// CHECK-NEXT: }
// -----
// CHECK-NEXT: // -----
// CHECK-NEXT: builtin.module {
// CHECK-LABEL: func.func @signature_forms(%x: tensor<4xf32>, %c: !kv.cache<"int4">) -> tensor<4xf32> {
// CHECK-NEXT: %y = "llm.sin"(%x) : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: %z = "llm.cos"(%y) : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: func.return %z : tensor<4xf32>
// CHECK-NEXT: }
func.func @signature_forms(%x: tensor<4xf32>, %c: !kv.cache<"int4">) -> (tensor<4xf32>) {
  %y = "llm.sin"(%x)
      : (tensor<4xf32>)
      -> tensor<4xf32>
  %z = "llm.cos"(%y) : (tensor<4xf32>) -> (tensor<4xf32>)
  func.return %z : tensor<4xf32>
}
// CHECK-NEXT: }
