// sub-batch-interleave on one decoder block (QKV projection, cache append, MHA, O projection,
// residual). Sub-batch k holds rows floor(k*B/n) .. floor((k+1)*B/n) - 1: for n = 2, B//2 and
// B-B//2 rows; the results are joined back to B rows. Phases (non-PIM ops, then PIM ops) go
// round robin: sb0's projection and attention, sb1's projection and attention (beside sb0's
// attention), then sb0's O projection (beside sb1's attention), then sb1's.
// RUN: pimc opt %s -p 'sub-batch-interleave' | filecheck %s
// RUN: pimc opt %s -p 'sub-batch-interleave{n=3}' | filecheck %s --check-prefix=N3
// RUN: pimc opt %s -p 'sub-batch-interleave{n=1}' | filecheck %s --check-prefix=N1
// RUN: pimc opt %s -p 'place-devices{target=neupims,policy=neupims,batch=64},sub-batch-interleave' | filecheck %s --check-prefix=PLACED
// RUN: pimc opt %s -p 'sub-batch-interleave,analyze-intensity,place-devices{target=neupims,policy=neupims,batch=64}' | filecheck %s --check-prefix=THEN-PLACED
// RUN: not pimc opt %s -p 'sub-batch-interleave{n=0}' 2>&1 | filecheck %s --check-prefix=N0
// RUN: not pimc opt %s -p 'sub-batch-interleave{func=prefill}' 2>&1 | filecheck %s --check-prefix=FUNC
// RUN: not pimc opt %s -p 'sub-batch-interleave,sub-batch-interleave' 2>&1 | filecheck %s --check-prefix=TWICE

func.func @decode(%x: tensor<Bx1x64xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx1x64xf32>, tensor<Bx2x(S+1)x16xf32>) {
  %w = "llm.weight"() {handle = #pimc.weight<"wq">} : () -> tensor<64x64xf32>
  %q = "llm.linear"(%x, %w) : (tensor<Bx1x64xf32>, tensor<64x64xf32>) -> tensor<Bx1x64xf32>
  %q4 = "llm.reshape"(%q) : (tensor<Bx1x64xf32>) -> tensor<Bx1x4x16xf32>
  %qt = "llm.transpose"(%q4) {perm = [0, 2, 1, 3]} : (tensor<Bx1x4x16xf32>) -> tensor<Bx4x1x16xf32>
  %kn = "llm.slice"(%qt) {axis = 1, start = 0, end = 2} : (tensor<Bx4x1x16xf32>) -> tensor<Bx2x1x16xf32>
  %kc = "llm.concat"(%k, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %vc = "llm.concat"(%v, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %a = "llm.attention"(%qt, %kc, %vc) {scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
  %at = "llm.transpose"(%a) {perm = [0, 2, 1, 3]} : (tensor<Bx4x1x16xf32>) -> tensor<Bx1x4x16xf32>
  %ar = "llm.reshape"(%at) : (tensor<Bx1x4x16xf32>) -> tensor<Bx1x64xf32>
  %wo = "llm.weight"() {handle = #pimc.weight<"wo">} : () -> tensor<64x64xf32>
  %o = "llm.linear"(%ar, %wo) : (tensor<Bx1x64xf32>, tensor<64x64xf32>) -> tensor<Bx1x64xf32>
  %h = "llm.add"(%x, %o) : (tensor<Bx1x64xf32>, tensor<Bx1x64xf32>) -> tensor<Bx1x64xf32>
  func.return %h, %kc : tensor<Bx1x64xf32>, tensor<Bx2x(S+1)x16xf32>
}

// CHECK-LABEL: func.func @decode(%x: tensor<Bx1x64xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx1x64xf32>, tensor<Bx2x(S+1)x16xf32>)
// CHECK-NEXT: %x_sb0 = "llm.slice"(%x) {axis = 0, end = #pimc.sym<"B//2">, start = 0, subbatch = 0} : (tensor<Bx1x64xf32>) -> tensor<(B//2)x1x64xf32>
// CHECK-NEXT: %w = "llm.weight"() {handle = #pimc.weight<"wq">} : () -> tensor<64x64xf32>
// CHECK-NEXT: %q_sb0 = "llm.linear"(%x_sb0, %w) {subbatch = 0} : (tensor<(B//2)x1x64xf32>, tensor<64x64xf32>) -> tensor<(B//2)x1x64xf32>
// CHECK-NEXT: %q4_sb0 = "llm.reshape"(%q_sb0) {subbatch = 0} : (tensor<(B//2)x1x64xf32>) -> tensor<(B//2)x1x4x16xf32>
// CHECK-NEXT: %qt_sb0 = "llm.transpose"(%q4_sb0) {perm = [0, 2, 1, 3], subbatch = 0}
// CHECK-NEXT: %kn_sb0 = "llm.slice"(%qt_sb0) {axis = 1, end = 2, start = 0, subbatch = 0}
// CHECK-NEXT: %k_sb0 = "llm.slice"(%k) {axis = 0, end = #pimc.sym<"B//2">, start = 0, subbatch = 0} : (tensor<Bx2xSx16xf32>) -> tensor<(B//2)x2xSx16xf32>
// CHECK-NEXT: %kc_sb0 = "llm.concat"(%k_sb0, %kn_sb0) {axis = 2, subbatch = 0} : (tensor<(B//2)x2xSx16xf32>, tensor<(B//2)x2x1x16xf32>) -> tensor<(B//2)x2x(S+1)x16xf32>
// CHECK-NEXT: %v_sb0 = "llm.slice"(%v) {axis = 0, end = #pimc.sym<"B//2">, start = 0, subbatch = 0}
// CHECK-NEXT: %vc_sb0 = "llm.concat"(%v_sb0, %kn_sb0) {axis = 2, subbatch = 0}
// CHECK-NEXT: %a_sb0 = "llm.attention"(%qt_sb0, %kc_sb0, %vc_sb0) {scale = 0.25, subbatch = 0} : (tensor<(B//2)x4x1x16xf32>, tensor<(B//2)x2x(S+1)x16xf32>, tensor<(B//2)x2x(S+1)x16xf32>) -> tensor<(B//2)x4x1x16xf32>
// CHECK-NEXT: %x_sb1 = "llm.slice"(%x) {axis = 0, end = #pimc.sym<"B">, start = #pimc.sym<"B//2">, subbatch = 1} : (tensor<Bx1x64xf32>) -> tensor<(B-B//2)x1x64xf32>
// CHECK-NEXT: %q_sb1 = "llm.linear"(%x_sb1, %w) {subbatch = 1} : (tensor<(B-B//2)x1x64xf32>, tensor<64x64xf32>) -> tensor<(B-B//2)x1x64xf32>
// CHECK-NEXT: %q4_sb1 = "llm.reshape"(%q_sb1) {subbatch = 1}
// CHECK-NEXT: %qt_sb1 = "llm.transpose"(%q4_sb1) {perm = [0, 2, 1, 3], subbatch = 1}
// CHECK-NEXT: %kn_sb1 = "llm.slice"(%qt_sb1) {axis = 1, end = 2, start = 0, subbatch = 1}
// CHECK-NEXT: %k_sb1 = "llm.slice"(%k) {axis = 0, end = #pimc.sym<"B">, start = #pimc.sym<"B//2">, subbatch = 1}
// CHECK-NEXT: %kc_sb1 = "llm.concat"(%k_sb1, %kn_sb1) {axis = 2, subbatch = 1}
// CHECK-NEXT: %v_sb1 = "llm.slice"(%v) {axis = 0, end = #pimc.sym<"B">, start = #pimc.sym<"B//2">, subbatch = 1}
// CHECK-NEXT: %vc_sb1 = "llm.concat"(%v_sb1, %kn_sb1) {axis = 2, subbatch = 1}
// CHECK-NEXT: %a_sb1 = "llm.attention"(%qt_sb1, %kc_sb1, %vc_sb1) {scale = 0.25, subbatch = 1} : (tensor<(B-B//2)x4x1x16xf32>, tensor<(B-B//2)x2x(S+1)x16xf32>, tensor<(B-B//2)x2x(S+1)x16xf32>) -> tensor<(B-B//2)x4x1x16xf32>
// CHECK-NEXT: %at_sb0 = "llm.transpose"(%a_sb0) {perm = [0, 2, 1, 3], subbatch = 0}
// CHECK-NEXT: %ar_sb0 = "llm.reshape"(%at_sb0) {subbatch = 0}
// CHECK-NEXT: %wo = "llm.weight"() {handle = #pimc.weight<"wo">} : () -> tensor<64x64xf32>
// CHECK-NEXT: %o_sb0 = "llm.linear"(%ar_sb0, %wo) {subbatch = 0}
// CHECK-NEXT: %h_sb0 = "llm.add"(%x_sb0, %o_sb0) {subbatch = 0}
// CHECK-NEXT: %at_sb1 = "llm.transpose"(%a_sb1) {perm = [0, 2, 1, 3], subbatch = 1}
// CHECK-NEXT: %ar_sb1 = "llm.reshape"(%at_sb1) {subbatch = 1}
// CHECK-NEXT: %o_sb1 = "llm.linear"(%ar_sb1, %wo) {subbatch = 1}
// CHECK-NEXT: %h_sb1 = "llm.add"(%x_sb1, %o_sb1) {subbatch = 1}
// CHECK-NEXT: %h = "llm.concat"(%h_sb0, %h_sb1) {axis = 0} : (tensor<(B//2)x1x64xf32>, tensor<(B-B//2)x1x64xf32>) -> tensor<Bx1x64xf32>
// The present cache is the whole past cache with the joined new rows appended, not a join of
// the sub-batches' caches: no copy of the past.
// CHECK-NEXT: %kn = "llm.concat"(%kn_sb0, %kn_sb1) {axis = 0} : (tensor<(B//2)x2x1x16xf32>, tensor<(B-B//2)x2x1x16xf32>) -> tensor<Bx2x1x16xf32>
// CHECK-NEXT: %kc = "llm.concat"(%k, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// CHECK-NEXT: func.return %h, %kc : tensor<Bx1x64xf32>, tensor<Bx2x(S+1)x16xf32>

// Three sub-batches of B//3, (2*B)//3-B//3 and B-(2*B)//3 rows.
// N3: %x_sb0 = "llm.slice"(%x) {axis = 0, end = #pimc.sym<"B//3">, start = 0, subbatch = 0}
// N3: %a_sb0 = "llm.attention"
// N3: %x_sb1 = "llm.slice"(%x) {axis = 0, end = #pimc.sym<"(2*B)//3">, start = #pimc.sym<"B//3">, subbatch = 1}
// N3: %a_sb1 = "llm.attention"
// N3: %x_sb2 = "llm.slice"(%x) {axis = 0, end = #pimc.sym<"B">, start = #pimc.sym<"(2*B)//3">, subbatch = 2}
// N3: %a_sb2 = "llm.attention"
// N3: %h_sb0 = "llm.add"
// N3: %h_sb1 = "llm.add"
// N3: %h_sb2 = "llm.add"
// N3: %h = "llm.concat"(%h_sb0, %h_sb1, %h_sb2) {axis = 0} : (tensor<(B//3)x1x64xf32>, tensor<(-(B//3)+(2*B)//3)x1x64xf32>, tensor<(B-(2*B)//3)x1x64xf32>) -> tensor<Bx1x64xf32>

// One sub-batch: the batch-dependent ops are tagged, nothing is sliced or moved.
// N1: %w = "llm.weight"() {handle = #pimc.weight<"wq">} : () -> tensor<64x64xf32>
// N1-NEXT: %q = "llm.linear"(%x, %w) {subbatch = 0} : (tensor<Bx1x64xf32>, tensor<64x64xf32>) -> tensor<Bx1x64xf32>
// N1-NOT: llm.slice"(%x)
// N1: func.return %h, %kc

// After placement: devices stay, costs follow the sub-batch's size (8192 flops per row of the
// 64x64 linear), slices and joins move nothing and sit on the device of the op they serve.
// PLACED: %x_sb0 = "llm.slice"(%x) {axis = 0, cost = {bytes = 0, flops = 0, op_b = 0}, device = #pimc.device<"npu">, end = #pimc.sym<"B//2">, start = 0, subbatch = 0}
// PLACED: %q_sb0 = "llm.linear"(%x_sb0, %w) {cost = {bytes = #pimc.sym<"512*(B//2)+16384">, flops = #pimc.sym<"8192*(B//2)">, op_b = {{.*}}}, device = #pimc.device<"npu">, subbatch = 0}
// PLACED: %a_sb0 = "llm.attention"({{.*}}) {cost = {{.*}}, device = #pimc.device<"pim">, scale = 0.25, subbatch = 0}
// PLACED: %q_sb1 = "llm.linear"(%x_sb1, %w) {cost = {bytes = #pimc.sym<"512*B-512*(B//2)+16384">, flops = #pimc.sym<"8192*B-8192*(B//2)">, op_b = {{.*}}}, device = #pimc.device<"npu">, subbatch = 1}
// PLACED: %a_sb1 = "llm.attention"({{.*}}) {cost = {{.*}}, device = #pimc.device<"pim">, scale = 0.25, subbatch = 1}
// PLACED: %h = "llm.concat"(%h_sb0, %h_sb1) {axis = 0, cost = {bytes = 0, flops = 0, op_b = 0}, device = #pimc.device<"npu">}
// PLACED: %kc = "llm.concat"(%k, %kn) {axis = 2, cost = {bytes = 0, flops = 0, op_b = 0}, device = #pimc.device<"npu">}

// Split first, placed after (at B = 64: at B = 1 sub-batch 0 is empty, its ops cost nothing and
// take the device of their data, like views): the copies are placed like the original ops.
// THEN-PLACED: %q_sb0 = "llm.linear"(%x_sb0, %w) {cost = {{.*}}, device = #pimc.device<"npu">, subbatch = 0}
// THEN-PLACED: %a_sb0 = "llm.attention"({{.*}}) {cost = {{.*}}, device = #pimc.device<"pim">, scale = 0.25, subbatch = 0}
// THEN-PLACED: %a_sb1 = "llm.attention"({{.*}}) {cost = {{.*}}, device = #pimc.device<"pim">, scale = 0.25, subbatch = 1}
// THEN-PLACED: %o_sb1 = "llm.linear"(%ar_sb1, %wo) {cost = {{.*}}, device = #pimc.device<"npu">, subbatch = 1}

// N0: pimc: error: option 'n' of pass 'sub-batch-interleave' must be >= 1, got 0
// FUNC: pimc: error: option 'func' of pass 'sub-batch-interleave': no function @prefill; functions: @decode
// TWICE: pimc: error: pass 'sub-batch-interleave': @decode is split already (its ops carry subbatch)
