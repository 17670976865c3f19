// Round trip of every attribute kind: ints, floats (1e-06, -inf, nan, inf, -0.0), strings with
// escapes, bools, unit, arrays (nested, empty), dictionaries (nested, empty, quoted keys), types
// as attributes (tensor, element and dialect types), symbol refs, #pimc.device/#pimc.weight/
// #pimc.sym, the common cost/kv/subbatch attributes, and values of dialect types.
// RUN: pimc opt %s | pimc opt - | filecheck --match-full-lines %s

// CHECK: builtin.module attributes {pimc.flag, "pimc.quoted key" = "v", pimc.target = "neupims", pimc.version = 3} {
builtin.module attributes {pimc.target = "neupims", pimc.version = 3, "pimc.quoted key" = "v", pimc.flag} {
  // CHECK-LABEL: func.func @kinds(%x: tensor<BxSxf32>) -> tensor<BxSxf32> {
  // CHECK-NEXT: %0 = "llm.relu"(%x) {pimc.int = 4096, pimc.neg = -7, pimc.zero = 0} : (tensor<BxSxf32>) -> tensor<BxSxf32>
  // CHECK-NEXT: %1 = "llm.relu"(%0) {pimc.a = 1e-06, pimc.b = -inf, pimc.c = nan, pimc.d = inf, pimc.e = 0.5, pimc.f = 1.0, pimc.g = 25000000000.0, pimc.h = -0.0, pimc.i = 1000.0, pimc.j = 3.0} : (tensor<BxSxf32>) -> tensor<BxSxf32>
  // CHECK-NEXT: %2 = "llm.relu"(%1) {pimc.empty = "", pimc.raw = "\u00e9 \u2211", pimc.s = "tab\there \"quoted\" back\\slash\nnewline", pimc.u = "\u00e9"} : (tensor<BxSxf32>) -> tensor<BxSxf32>
  // CHECK-NEXT: %3 = "llm.relu"(%2) {pimc.f = false, pimc.t = true, pimc.unit, pimc.unit2} : (tensor<BxSxf32>) -> tensor<BxSxf32>
  // CHECK-NEXT: %4 = "llm.relu"(%3) {pimc.arr = [1, 2.5, "s", true], pimc.empty = [], pimc.nested = {{\[\[}}1, 2], [], {{\[\[}}3]]]} : (tensor<BxSxf32>) -> tensor<BxSxf32>
  // CHECK-NEXT: %5 = "llm.relu"(%4) {pimc.d = {a = {flag, inner = [1, {deep = "x"}]}, "m k" = @sym, z = 1}, pimc.e = {}} : (tensor<BxSxf32>) -> tensor<BxSxf32>
  // CHECK-NEXT: %6 = "llm.relu"(%5) {pimc.bare = !kv.page, pimc.dt = !kv.cache<tensor<Bx8xSx128xf16>, 4, "kivi">, pimc.et = i4, pimc.tt = tensor<Bx(S+1)x128xf16>} : (tensor<BxSxf32>) -> tensor<BxSxf32>
  // CHECK-NEXT: %7 = "llm.relu"(%6) {pimc.ref = @kinds, pimc.refs = [@a, @b.c]} : (tensor<BxSxf32>) -> tensor<BxSxf32>
  // CHECK-NEXT: %8 = "llm.relu"(%7) {device = #pimc.device<"xpu">, pimc.sym = #pimc.sym<"2*B*S">, pimc.sym1 = #pimc.sym<"S+1">, pimc.sym2 = #pimc.sym<"B">, pimc.sym3 = #pimc.sym<"64">, pimc.sym4 = #pimc.sym<"S//2">, pimc.w = #pimc.weight<"lm_head.weight">} : (tensor<BxSxf32>) -> tensor<BxSxf32>
  // CHECK-NEXT: %9 = "llm.relu"(%8) {cost = {bytes = #pimc.sym<"4*B*S">, flops = #pimc.sym<"B*S">, op_b = 0.25}, kv = {method = "h2o", ratio = 0.5}, subbatch = 1} : (tensor<BxSxf32>) -> tensor<BxSxf32>
  // CHECK-NEXT: func.return %9 : tensor<BxSxf32>
  // CHECK-NEXT: }
  func.func @kinds(%x: tensor<BxSxf32>) -> tensor<BxSxf32> {
    %0 = "llm.relu"(%x) {pimc.int = 4096, pimc.neg = -7, pimc.zero = 0} : (tensor<BxSxf32>) -> tensor<BxSxf32>
    %1 = "llm.relu"(%0) {pimc.a = 1e-06, pimc.b = -inf, pimc.c = nan, pimc.d = inf, pimc.e = 0.5, pimc.f = 1.0, pimc.g = 2.5e+10, pimc.h = -0.0, pimc.i = 1E3, pimc.j = 3.} : (tensor<BxSxf32>) -> tensor<BxSxf32>
    %2 = "llm.relu"(%1) {pimc.s = "tab\there \"quoted\" back\\slash\nnewline", pimc.u = "\u00e9", pimc.raw = "é ∑", pimc.empty = ""} : (tensor<BxSxf32>) -> tensor<BxSxf32>
    %3 = "llm.relu"(%2) {pimc.t = true, pimc.f = false, pimc.unit, pimc.unit2 = unit} : (tensor<BxSxf32>) -> tensor<BxSxf32>
    %4 = "llm.relu"(%3) {pimc.arr = [1, 2.5, "s", true], pimc.empty = [], pimc.nested = [[1, 2], [], [[3]]]} : (tensor<BxSxf32>) -> tensor<BxSxf32>
    %5 = "llm.relu"(%4) {pimc.d = {z = 1, a = {inner = [1, {deep = "x"}], flag}, "m k" = @sym}, pimc.e = {}} : (tensor<BxSxf32>) -> tensor<BxSxf32>
    %6 = "llm.relu"(%5) {pimc.tt = tensor<Bx(S+1)x128xf16>, pimc.et = i4, pimc.dt = !kv.cache<tensor<Bx8xSx128xf16>, 4, "kivi">, pimc.bare = !kv.page} : (tensor<BxSxf32>) -> tensor<BxSxf32>
    %7 = "llm.relu"(%6) {pimc.ref = @kinds, pimc.refs = [@a, @b.c]} : (tensor<BxSxf32>) -> tensor<BxSxf32>
    %8 = "llm.relu"(%7) {device = #pimc.device<"xpu">, pimc.w = #pimc.weight<"lm_head.weight">, pimc.sym = #pimc.sym<"2*B*S">, pimc.sym1 = #pimc.sym<"S+1">, pimc.sym2 = #pimc.sym<"B">, pimc.sym3 = #pimc.sym<"64">, pimc.sym4 = #pimc.sym<"S//2">} : (tensor<BxSxf32>) -> tensor<BxSxf32>
    %9 = "llm.relu"(%8) {cost = {bytes = #pimc.sym<"4*B*S">, flops = #pimc.sym<"B*S">, op_b = 0.25}, kv = {method = "h2o", ratio = 0.5}, subbatch = 1} : (tensor<BxSxf32>) -> tensor<BxSxf32>
    func.return %9 : tensor<BxSxf32>
  }
  // CHECK-LABEL: func.func @kv_types(%c: !kv.cache<tensor<Bx8x(S+1)x128xf16>, "int4">, %d: f16, %e: i1) -> (!kv.cache<tensor<Bx8x(S+1)x128xf16>, "int4">, f16, i1) {
  // CHECK-NEXT: func.return %c, %d, %e : !kv.cache<tensor<Bx8x(S+1)x128xf16>, "int4">, f16, i1
  // CHECK-NEXT: }
  func.func @kv_types(%c: !kv.cache<tensor<Bx8x(S+1)x128xf16>, "int4">, %d: f16, %e: i1) -> (!kv.cache<tensor<Bx8x(S+1)x128xf16>, "int4">, f16, i1) {
    func.return %c, %d, %e : !kv.cache<tensor<Bx8x(S+1)x128xf16>, "int4">, f16, i1
  }
}
// CHECK-NEXT: }
