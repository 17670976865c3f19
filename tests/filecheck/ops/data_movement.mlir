// Round trip of the data-movement llm ops: weight handles, constants (1e-06, -inf), reshape,
// cast, transpose, concat, slice with #pimc.sym bounds, gather, embedding, topk (two results),
// arange, expand and take, over symbolic dims such as (S+1), (B*S), (S//2) and (2*B).
// RUN: pimc opt %s | pimc opt - | filecheck --match-full-lines %s

// CHECK: builtin.module {
builtin.module {
  // CHECK-LABEL: func.func @params() -> (tensor<32000x4096xf16>, tensor<4096xf32>, tensor<f32>, tensor<Bx1x(S+1)x(S+1)xf16>) {
  // CHECK-NEXT: %w = "llm.weight"() {handle = #pimc.weight<"model.embed_tokens.weight">} : () -> tensor<32000x4096xf16>
  // CHECK-NEXT: %n = "llm.weight"() {device = #pimc.device<"host">, handle = #pimc.weight<"model.layers.0.input_layernorm.weight">} : () -> tensor<4096xf32>
  // CHECK-NEXT: %eps = "llm.constant"() {value = 1e-06} : () -> tensor<f32>
  // CHECK-NEXT: %ninf = "llm.constant"() {value = -inf} : () -> tensor<Bx1x(S+1)x(S+1)xf16>
  // CHECK-NEXT: func.return %w, %n, %eps, %ninf : tensor<32000x4096xf16>, tensor<4096xf32>, tensor<f32>, tensor<Bx1x(S+1)x(S+1)xf16>
  // CHECK-NEXT: }
  func.func @params() -> (tensor<32000x4096xf16>, tensor<4096xf32>, tensor<f32>, tensor<Bx1x(S+1)x(S+1)xf16>) {
    %w = "llm.weight"() {handle = #pimc.weight<"model.embed_tokens.weight">} : () -> tensor<32000x4096xf16>
    %n = "llm.weight"() {handle = #pimc.weight<"model.layers.0.input_layernorm.weight">, device = #pimc.device<"host">} : () -> tensor<4096xf32>
    %eps = "llm.constant"() {value = 1e-06} : () -> tensor<f32>
    %ninf = "llm.constant"() {value = -inf} : () -> tensor<Bx1x(S+1)x(S+1)xf16>
    func.return %w, %n, %eps, %ninf : tensor<32000x4096xf16>, tensor<4096xf32>, tensor<f32>, tensor<Bx1x(S+1)x(S+1)xf16>
  }
  // CHECK-LABEL: func.func @views(%x: tensor<BxSx4096xf16>) -> (tensor<(B*S)x4096xf32>, tensor<Bx32xSx128xf16>) {
  // CHECK-NEXT: %flat = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<(B*S)x4096xf16>
  // CHECK-NEXT: %f32 = "llm.cast"(%flat) : (tensor<(B*S)x4096xf16>) -> tensor<(B*S)x4096xf32>
  // CHECK-NEXT: %heads = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<BxSx32x128xf16>
  // CHECK-NEXT: %t = "llm.transpose"(%heads) {perm = [0, 2, 1, 3]} : (tensor<BxSx32x128xf16>) -> tensor<Bx32xSx128xf16>
  // CHECK-NEXT: func.return %f32, %t : tensor<(B*S)x4096xf32>, tensor<Bx32xSx128xf16>
  // CHECK-NEXT: }
  func.func @views(%x: tensor<BxSx4096xf16>) -> (tensor<(B*S)x4096xf32>, tensor<Bx32xSx128xf16>) {
    %flat = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<(B*S)x4096xf16>
    %f32 = "llm.cast"(%flat) : (tensor<(B*S)x4096xf16>) -> tensor<(B*S)x4096xf32>
    %heads = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<BxSx32x128xf16>
    %t = "llm.transpose"(%heads) {perm = [0, 2, 1, 3]} : (tensor<BxSx32x128xf16>) -> tensor<Bx32xSx128xf16>
    func.return %f32, %t : tensor<(B*S)x4096xf32>, tensor<Bx32xSx128xf16>
  }
  // CHECK-LABEL: func.func @kv_append(%cache: tensor<Bx8xSx128xf16>, %new: tensor<Bx8x1x128xf16>) -> tensor<Bx8x(S+1)x128xf16> {
  // CHECK-NEXT: %kv = "llm.concat"(%cache, %new) {axis = 2} : (tensor<Bx8xSx128xf16>, tensor<Bx8x1x128xf16>) -> tensor<Bx8x(S+1)x128xf16>
  // CHECK-NEXT: func.return %kv : tensor<Bx8x(S+1)x128xf16>
  // CHECK-NEXT: }
  func.func @kv_append(%cache: tensor<Bx8xSx128xf16>, %new: tensor<Bx8x1x128xf16>) -> tensor<Bx8x(S+1)x128xf16> {
    %kv = "llm.concat"(%cache, %new) {axis = 2} : (tensor<Bx8xSx128xf16>, tensor<Bx8x1x128xf16>) -> tensor<Bx8x(S+1)x128xf16>
    func.return %kv : tensor<Bx8x(S+1)x128xf16>
  }
  // CHECK-LABEL: func.func @concat_many(%a: tensor<Bx4xf32>, %b: tensor<Bx(2*B)xf32>, %c: tensor<BxSxf32>) -> (tensor<Bx(2*B+S+4)xf32>, tensor<Bx4xf32>) {
  // CHECK-NEXT: %0 = "llm.concat"(%a, %b, %c) {axis = -1} : (tensor<Bx4xf32>, tensor<Bx(2*B)xf32>, tensor<BxSxf32>) -> tensor<Bx(2*B+S+4)xf32>
  // CHECK-NEXT: %1 = "llm.concat"(%a) {axis = 0} : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  // CHECK-NEXT: func.return %0, %1 : tensor<Bx(2*B+S+4)xf32>, tensor<Bx4xf32>
  // CHECK-NEXT: }
  func.func @concat_many(%a: tensor<Bx4xf32>, %b: tensor<Bx(2*B)xf32>, %c: tensor<BxSxf32>) -> (tensor<Bx(2*B+S+4)xf32>, tensor<Bx4xf32>) {
    %0 = "llm.concat"(%a, %b, %c) {axis = -1} : (tensor<Bx4xf32>, tensor<Bx(2*B)xf32>, tensor<BxSxf32>) -> tensor<Bx(2*B+S+4)xf32>
    %1 = "llm.concat"(%a) {axis = 0} : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
    func.return %0, %1 : tensor<Bx(2*B+S+4)xf32>, tensor<Bx4xf32>
  }
  // CHECK-LABEL: func.func @slices(%x: tensor<Bx(S+1)x4096xf16>) -> (tensor<Bx1x4096xf16>, tensor<BxSx4096xf16>, tensor<Bx(S+1)x2048xf16>, tensor<Bx(S//2)x4096xf16>) {
  // CHECK-NEXT: %last = "llm.slice"(%x) {axis = 1, end = #pimc.sym<"S+1">, start = #pimc.sym<"S">} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx1x4096xf16>
  // CHECK-NEXT: %head = "llm.slice"(%x) {axis = 1, end = #pimc.sym<"S">, start = 0} : (tensor<Bx(S+1)x4096xf16>) -> tensor<BxSx4096xf16>
  // CHECK-NEXT: %even = "llm.slice"(%x) {axis = -1, end = 4096, start = 0, step = 2} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x2048xf16>
  // CHECK-NEXT: %half = "llm.slice"(%x) {axis = 1, end = #pimc.sym<"S//2">, start = 0} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S//2)x4096xf16>
  // CHECK-NEXT: func.return %last, %head, %even, %half : tensor<Bx1x4096xf16>, tensor<BxSx4096xf16>, tensor<Bx(S+1)x2048xf16>, tensor<Bx(S//2)x4096xf16>
  // CHECK-NEXT: }
  func.func @slices(%x: tensor<Bx(S+1)x4096xf16>) -> (tensor<Bx1x4096xf16>, tensor<BxSx4096xf16>, tensor<Bx(S+1)x2048xf16>, tensor<Bx(S//2)x4096xf16>) {
    %last = "llm.slice"(%x) {axis = 1, start = #pimc.sym<"S">, end = #pimc.sym<"S+1">} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx1x4096xf16>
    %head = "llm.slice"(%x) {axis = 1, start = 0, end = #pimc.sym<"S">} : (tensor<Bx(S+1)x4096xf16>) -> tensor<BxSx4096xf16>
    %even = "llm.slice"(%x) {axis = -1, start = 0, end = 4096, step = 2} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x2048xf16>
    %half = "llm.slice"(%x) {axis = 1, start = 0, end = #pimc.sym<"S//2">} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S//2)x4096xf16>
    func.return %last, %head, %even, %half : tensor<Bx1x4096xf16>, tensor<BxSx4096xf16>, tensor<Bx(S+1)x2048xf16>, tensor<Bx(S//2)x4096xf16>
  }
  // CHECK-LABEL: func.func @lookup(%ids: tensor<BxSxi64>, %table: tensor<32000x4096xf16>, %x: tensor<Bx(2*B)xf32>, %idx: tensor<Bx3xi32>) -> (tensor<BxSx4096xf16>, tensor<Bx3xf32>) {
  // CHECK-NEXT: %emb = "llm.embedding"(%ids, %table) : (tensor<BxSxi64>, tensor<32000x4096xf16>) -> tensor<BxSx4096xf16>
  // CHECK-NEXT: %g = "llm.gather"(%x, %idx) {axis = 1} : (tensor<Bx(2*B)xf32>, tensor<Bx3xi32>) -> tensor<Bx3xf32>
  // CHECK-NEXT: func.return %emb, %g : tensor<BxSx4096xf16>, tensor<Bx3xf32>
  // CHECK-NEXT: }
  func.func @lookup(%ids: tensor<BxSxi64>, %table: tensor<32000x4096xf16>, %x: tensor<Bx(2*B)xf32>, %idx: tensor<Bx3xi32>) -> (tensor<BxSx4096xf16>, tensor<Bx3xf32>) {
    %emb = "llm.embedding"(%ids, %table) : (tensor<BxSxi64>, tensor<32000x4096xf16>) -> tensor<BxSx4096xf16>
    %g = "llm.gather"(%x, %idx) {axis = 1} : (tensor<Bx(2*B)xf32>, tensor<Bx3xi32>) -> tensor<Bx3xf32>
    func.return %emb, %g : tensor<BxSx4096xf16>, tensor<Bx3xf32>
  }
  // CHECK-LABEL: func.func @topk(%logits: tensor<(B*S)x64xf32>) -> (tensor<(B*S)x8xf32>, tensor<(B*S)x8xi64>, tensor<2x(B*S)xi64>) {
  // CHECK-NEXT: %v, %i = "llm.topk"(%logits) {k = 8} : (tensor<(B*S)x64xf32>) -> (tensor<(B*S)x8xf32>, tensor<(B*S)x8xi64>)
  // CHECK-NEXT: %v0, %i0 = "llm.topk"(%logits) {axis = 0, k = 2} : (tensor<(B*S)x64xf32>) -> (tensor<2x64xf32>, tensor<2x64xi64>)
  // CHECK-NEXT: %t = "llm.transpose"(%i0) {perm = [1, 0]} : (tensor<2x64xi64>) -> tensor<64x2xi64>
  // CHECK-NEXT: %r = "llm.reshape"(%i) : (tensor<(B*S)x8xi64>) -> tensor<2x(4*B*S)xi64>
  // CHECK-NEXT: %s = "llm.slice"(%r) {axis = 1, end = #pimc.sym<"B*S">, start = 0} : (tensor<2x(4*B*S)xi64>) -> tensor<2x(B*S)xi64>
  // CHECK-NEXT: func.return %v, %i, %s : tensor<(B*S)x8xf32>, tensor<(B*S)x8xi64>, tensor<2x(B*S)xi64>
  // CHECK-NEXT: }
  func.func @topk(%logits: tensor<(B*S)x64xf32>) -> (tensor<(B*S)x8xf32>, tensor<(B*S)x8xi64>, tensor<2x(B*S)xi64>) {
    %v, %i = "llm.topk"(%logits) {k = 8} : (tensor<(B*S)x64xf32>) -> (tensor<(B*S)x8xf32>, tensor<(B*S)x8xi64>)
    %v0, %i0 = "llm.topk"(%logits) {axis = 0, k = 2} : (tensor<(B*S)x64xf32>) -> (tensor<2x64xf32>, tensor<2x64xi64>)
    %t = "llm.transpose"(%i0) {perm = [1, 0]} : (tensor<2x64xi64>) -> tensor<64x2xi64>
    %r = "llm.reshape"(%i) : (tensor<(B*S)x8xi64>) -> tensor<2x(4*B*S)xi64>
    %s = "llm.slice"(%r) {axis = 1, start = 0, end = #pimc.sym<"B*S">} : (tensor<2x(4*B*S)xi64>) -> tensor<2x(B*S)xi64>
    func.return %v, %i, %s : tensor<(B*S)x8xf32>, tensor<(B*S)x8xi64>, tensor<2x(B*S)xi64>
  }
  // CHECK-LABEL: func.func @positions(%x: tensor<Bx1x128xf16>, %table: tensor<(S+1)x128xf16>) -> (tensor<Tx1xi64>, tensor<4xi32>, tensor<Bx8x128xf16>, tensor<BxTx128xf16>) {
  // CHECK-NEXT: %pos = "llm.arange"() {start = #pimc.sym<"S">} : () -> tensor<Txi64>
  // CHECK-NEXT: %ramp = "llm.arange"() {start = 2, step = 3} : () -> tensor<4xi32>
  // CHECK-NEXT: %col = "llm.reshape"(%pos) : (tensor<Txi64>) -> tensor<Tx1xi64>
  // CHECK-NEXT: %wide = "llm.expand"(%x) : (tensor<Bx1x128xf16>) -> tensor<Bx8x128xf16>
  // CHECK-NEXT: %rows = "llm.take"(%table, %pos) : (tensor<(S+1)x128xf16>, tensor<Txi64>) -> tensor<Tx128xf16>
  // CHECK-NEXT: %rows3 = "llm.expand"(%rows) : (tensor<Tx128xf16>) -> tensor<BxTx128xf16>
  // CHECK-NEXT: %last = "llm.take"(%rows3, %ramp) {axis = -1} : (tensor<BxTx128xf16>, tensor<4xi32>) -> tensor<BxTx4xf16>
  // CHECK-NEXT: func.return %col, %ramp, %wide, %rows3 : tensor<Tx1xi64>, tensor<4xi32>, tensor<Bx8x128xf16>, tensor<BxTx128xf16>
  // CHECK-NEXT: }
  func.func @positions(%x: tensor<Bx1x128xf16>, %table: tensor<(S+1)x128xf16>) -> (tensor<Tx1xi64>, tensor<4xi32>, tensor<Bx8x128xf16>, tensor<BxTx128xf16>) {
    %pos = "llm.arange"() {start = #pimc.sym<"S">} : () -> tensor<Txi64>
    %ramp = "llm.arange"() {start = 2, step = 3} : () -> tensor<4xi32>
    %col = "llm.reshape"(%pos) : (tensor<Txi64>) -> tensor<Tx1xi64>
    %wide = "llm.expand"(%x) : (tensor<Bx1x128xf16>) -> tensor<Bx8x128xf16>
    %rows = "llm.take"(%table, %pos) : (tensor<(S+1)x128xf16>, tensor<Txi64>) -> tensor<Tx128xf16>
    %rows3 = "llm.expand"(%rows) : (tensor<Tx128xf16>) -> tensor<BxTx128xf16>
    %last = "llm.take"(%rows3, %ramp) {axis = -1} : (tensor<BxTx128xf16>, tensor<4xi32>) -> tensor<BxTx4xf16>
    func.return %col, %ramp, %wide, %rows3 : tensor<Tx1xi64>, tensor<4xi32>, tensor<Bx8x128xf16>, tensor<BxTx128xf16>
  }
}
// CHECK-NEXT: }
