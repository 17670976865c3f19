// pimc compile --emit pim-cmds on NeuPIMs (targets/presets/neupims.toml: 4 stacks of 8 HBM2
// channels, 1 pseudo-channel, 1 rank, 4 bank groups x 4 banks; a PIM unit per bank, 512 in all,
// each MAC reading the 16 fp16 = 32 B its 16 multipliers take, so a 2-KiB row holds 64 PIM
// columns), batch 1, context 20. Counts by hand:
// - GEMV 40 x 64: rows_per_unit = ceil(40 / 512) = 1; units are numbered channel-innermost, so
//   rows 0..39 fill units 0..4 of the first stack in all 8 channels. 64 inputs = 4 columns: per
//   channel 4 WRGBs (x into the global buffers) and 1 row x 4 columns = 4 MACABs; one 16-row
//   result block moved out per (rank, bank group): 4 MVSBs. Barriers: after the WRGBs, after
//   the MACs, at the end: 3 x 8 channels. 8 x (4 + 4 + 4 + 3) = 120 requests.
// - Attention, 2 MHA heads over 4 stacks: 1 head per stack, on channel 0. The 4 banks of a
//   group split head_dim 32 (bank 0 holds it all, 1..3 padding): 4 WRGBs; 20 keys over 4 bank
//   groups = 5 per group: 5 score MACABs (columns 0..4 of K's first row) and 5 context MACABs
//   in V's region (row 16: 4096 keys / 4 groups x 1 column / 64 columns per row); one score
//   block moved per group (4 MVSBs), one SFM, probabilities into 4 groups' buffers (4 MVGBs),
//   the output slice moved per bank (4 MVSBs).
// RUN: pimc compile %s -t neupims --emit pim-cmds --batch 1 --context 20 | filecheck %s

func.func @decode(%x: tensor<Bx1x64xf16>, %w: tensor<40x64xf16>,
                  %q: tensor<Bx2x1x32xf16>, %k: tensor<Bx2xSx32xf16>,
                  %v: tensor<Bx2xSx32xf16>) -> (tensor<Bx1x40xf16>, tensor<Bx2x1x32xf16>) {
  %y = "llm.linear"(%x, %w) : (tensor<Bx1x64xf16>, tensor<40x64xf16>) -> tensor<Bx1x40xf16>
  %o = "llm.attention"(%q, %k, %v) {scale = 0.17677669529663687} : (tensor<Bx2x1x32xf16>, tensor<Bx2xSx32xf16>, tensor<Bx2xSx32xf16>) -> tensor<Bx2x1x32xf16>
  func.return %y, %o : tensor<Bx1x40xf16>, tensor<Bx2x1x32xf16>
}
// CHECK: // @decode pim.gemv at {{.*}}: batch 1, rows 40, cols 64, rows_per_unit 1, rows_in_stack 40, stacks 4; 120 requests: MACAB 32, WRGB 32, MVSB 32, MVGB 0, SFM 0
// CHECK-NEXT: WRGB ch0 ra0 bg0 ba0 row0 col0
// CHECK: WRGB ch7 ra0 bg0 ba0 row0 col3
// CHECK-NEXT: BARRIER
// CHECK: MACAB ch0 ra0 bg0 ba0 row0 col0
// CHECK: MACAB ch7 ra0 bg0 ba0 row0 col3
// CHECK: MVSB ch0 ra0 bg0 ba0 row0 col0
// CHECK: MVSB ch7 ra0 bg3 ba0 row0 col0
// CHECK: // @decode pim.attention at {{.*}}: context 20, heads_per_stack 1, head_dim 32, stacks 4, layout pimc; 59 requests: MACAB 10, WRGB 4, MVSB 8, MVGB 4, SFM 1
// CHECK-NEXT: WRGB ch0 ra0 bg0 ba0 row0 col0
// CHECK: WRGB ch0 ra0 bg0 ba3 row0 col0
// CHECK: MACAB ch0 ra0 bg0 ba0 row0 col4
// CHECK: MVSB ch0 ra0 bg3 ba0 row0 col0
// CHECK-NEXT: SFM ch0 ra0 bg0 ba0 row0 col0
// CHECK-NEXT: MVGB ch0 ra0 bg0 ba0 row16 col0
// CHECK: MACAB ch0 ra0 bg0 ba0 row16 col4
// CHECK: MVSB ch0 ra0 bg0 ba3 row16 col0
