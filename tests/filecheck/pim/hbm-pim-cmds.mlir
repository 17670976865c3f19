// pimc compile --emit pim-cmds on Samsung HBM-PIM (targets/presets/hbm-pim.toml: 4 stacks x 8
// channels x 2 pseudo-channels = 64 PIM channels of 16 banks, 8 PIM blocks each), batch 1,
// context 20. Every pseudo-channel receives the same transactions (PIMSIM.md §8); one is printed.
// Counts by hand, PIMSIM.md §4 and §6.1:
// - GEMV 8192 x 256: an output tile is 8 rows x 8 blocks x 64 channels = 4096 outputs, so 2
//   output tiles; an input tile is 8 bursts of 16 = 128 inputs, so 2 input tiles (tile 0 in the
//   even banks, BG0/BA0; tile 1 in the odd, BG0/BA1). Once: park in (16 reads of row 0x1000),
//   SB->HAB (4 writes to row 0x17FF at BG0/BA0, BG0/BA1, BG2/BA0, BG2/BA1), one CRF burst (6
//   entries: MAC even, JUMP 8 x 1 - 1 = 7, MAC odd, JUMP 7, NOP 8, EXIT), HAB->SB (2 writes to
//   row 0x1FFF), park out (16 reads): 39 transactions. Per output tile: the HAB_PIM switch
//   (zero GRF_B), per input tile 8 GRF_A writes (row 0x3FFF cols 8..15) + 64 MAC reads, 8
//   result writes to the odd banks, the switch back: 1 + 2 x 72 + 8 + 1 = 154.
//   39 + 2 x 154 = 347 = RD 16 + 2 x 2 x 64 + 16 = 288 + WR 59. Barriers close park in, SB->HAB,
//   the CRF, HAB->SB and park out (5) and per output tile the 2 switches, the GRF_A writes and
//   the 8 MAC groups of each input tile and the result writes (2 + 2 x 9 + 1 = 21): 47.
//   Weights: 64 consecutive bursts (2 DRAM rows of 32 columns) per (output tile, input tile
//   pair), so output tile 1's MACs read rows 2 and 3; the results follow the weights: burst
//   2 x 64 + 8 j = row 4, columns 8 j .. 8 j + 7.
// - Attention, 2 MHA heads, batch 1: per head a score GEMV (K q: 20 x 32), the softmax on the
//   host, a context GEMV (V^T p: 32 x 20 keys padded to 32); each is 1 output x 1 input tile:
//   39 + 1 + 72 + 8 + 1 = 121 transactions (CRF 4 entries: no odd-bank MAC), 4 calls = 484.
// RUN: pimc compile %s -t hbm-pim --emit pim-cmds --batch 1 --context 20 | filecheck %s

func.func @decode(%x: tensor<Bx1x256xf16>, %w: tensor<8192x256xf16>,
                  %q: tensor<Bx2x1x32xf16>, %k: tensor<Bx2xSx32xf16>,
                  %v: tensor<Bx2xSx32xf16>) -> (tensor<Bx1x8192xf16>, tensor<Bx2x1x32xf16>) {
  %y = "llm.linear"(%x, %w) : (tensor<Bx1x256xf16>, tensor<8192x256xf16>) -> tensor<Bx1x8192xf16>
  %o = "llm.attention"(%q, %k, %v) {scale = 0.17677669529663687} : (tensor<Bx2x1x32xf16>, tensor<Bx2xSx32xf16>, tensor<Bx2xSx32xf16>) -> tensor<Bx2x1x32xf16>
  func.return %y, %o : tensor<Bx1x8192xf16>, tensor<Bx2x1x32xf16>
}
// CHECK: // @decode pim.gemv at {{.*}}: batch 1, rows 8192, cols 256, stacks 4, pseudo_channels 64; 1 kernel call, 347 transactions per pseudo-channel: RD 288, WR 59, barriers 47, PARK_IN 16, SB_TO_HAB 4, CRF 1, HAB_TO_HAB_PIM 2, WR_GRF_A 32, MAC 256, STORE_GRF_B 16, HAB_PIM_TO_HAB 2, HAB_TO_SB 2, PARK_OUT 16
// CHECK-NEXT: PIM_GEMV rows 8192 cols 256  // input vector 0
// CHECK-NEXT: PARK_IN RD bg0 ba0 row0x1000 col0
// CHECK: PARK_IN RD bg3 ba3 row0x1000 col0 barrier
// CHECK-NEXT: SB_TO_HAB WR bg0 ba0 row0x17FF col31
// CHECK-NEXT: SB_TO_HAB WR bg0 ba1 row0x17FF col31
// CHECK-NEXT: SB_TO_HAB WR bg2 ba0 row0x17FF col31
// CHECK-NEXT: SB_TO_HAB WR bg2 ba1 row0x17FF col31 barrier
// CHECK-NEXT: CRF WR bg0 ba1 row0x3FFF col4 barrier  // MAC GRF_B[0], GRF_A[0], EVEN_BANK, auto; JUMP 7x [PC - 2]; MAC GRF_B[0], GRF_A[0], ODD_BANK, auto; JUMP 7x [PC - 2]; NOP 8x; EXIT
// CHECK-NEXT: HAB_TO_HAB_PIM WR bg0 ba0 row0x3FFF col0 barrier  // zero GRF_B
// CHECK-NEXT: WR_GRF_A WR bg0 ba1 row0x3FFF col8
// CHECK: WR_GRF_A WR bg0 ba1 row0x3FFF col15 barrier
// CHECK-NEXT: MAC RD bg0 ba0 row0 col0
// CHECK: MAC RD bg0 ba0 row0 col7 barrier
// CHECK: MAC RD bg0 ba0 row1 col31 barrier
// CHECK-NEXT: WR_GRF_A WR bg0 ba1 row0x3FFF col8
// CHECK: MAC RD bg0 ba1 row1 col31 barrier
// CHECK-NEXT: STORE_GRF_B WR bg0 ba1 row4 col0
// CHECK: STORE_GRF_B WR bg0 ba1 row4 col7 barrier
// CHECK-NEXT: HAB_PIM_TO_HAB WR bg0 ba0 row0x3FFF col0 barrier
// CHECK-NEXT: HAB_TO_HAB_PIM WR bg0 ba0 row0x3FFF col0 barrier  // zero GRF_B
// CHECK: MAC RD bg0 ba0 row2 col0
// CHECK: MAC RD bg0 ba1 row3 col31 barrier
// CHECK-NEXT: STORE_GRF_B WR bg0 ba1 row4 col8
// CHECK: STORE_GRF_B WR bg0 ba1 row4 col15 barrier
// CHECK-NEXT: HAB_PIM_TO_HAB WR bg0 ba0 row0x3FFF col0 barrier
// CHECK-NEXT: HAB_TO_SB WR bg0 ba0 row0x1FFF col31
// CHECK-NEXT: HAB_TO_SB WR bg0 ba1 row0x1FFF col31 barrier
// CHECK-NEXT: PARK_OUT RD bg0 ba0 row0x1000 col0
// CHECK: PARK_OUT RD bg3 ba3 row0x1000 col0 barrier
// CHECK-NEXT: // @decode pim.attention at {{.*}}: context 20, heads 2, head_dim 32, stacks 4, pseudo_channels 64, dtype fp16; 4 kernel calls, 484 transactions per pseudo-channel: RD 384, WR 100, barriers 68, PARK_IN 64, SB_TO_HAB 16, CRF 4, HAB_TO_HAB_PIM 4, WR_GRF_A 32, MAC 256, STORE_GRF_B 32, HAB_PIM_TO_HAB 4, HAB_TO_SB 8, PARK_OUT 64
// CHECK-NEXT: PIM_GEMV rows 20 cols 32  // head 0: scores K q
// CHECK: CRF WR bg0 ba1 row0x3FFF col4 barrier  // MAC GRF_B[0], GRF_A[0], EVEN_BANK, auto; JUMP 7x [PC - 2]; NOP 8x; EXIT
// CHECK: HOST_SOFTMAX  // head 0
// CHECK-NEXT: PIM_GEMV rows 32 cols 32  // head 0: context V^T p
// CHECK: PIM_GEMV rows 20 cols 32  // head 1: scores K q
// CHECK: HOST_SOFTMAX  // head 1
// CHECK-NEXT: PIM_GEMV rows 32 cols 32  // head 1: context V^T p
// CHECK-NOT: PIM_GEMV
