"""Memory presets for pimsim, every number cited, and `spec_from_target` for a pimc target's
`[memory]`. Sources, by short name:

  [dramsim3]  tests/fixtures/reference/dramsim3/hbm2_8gb_x128.md: DRAMsim3's configs/
              HBM2_8Gb_x128.ini and the values DRAMsim3 derives from it (commit 2981759)
  [attacc]    tests/fixtures/reference/attacc/ATTACC.md: AttAcc's Ramulator2 HBM3-PIM
              (§2 organisation, timing and address mapping)
  [pimsim]    tests/fixtures/reference/pimsim/PIMSIM.md: Samsung PIMSimulator's HBM2 device
              ini/HBM2_samsung_2M_16B_x64.ini and system_hbm_64ch.ini (§1), PIM units (§2)
  [energy]    scale-snu/attacc_simulator src/config.py ENERGY_TABLE, DRAM from FGDRAM (O'Connor
              et al., MICRO'17): 0.11 ACT + 0.44 cell + 1.01 + 1.23 core + 0.5 TSV + 0.3 interposer
              = 3.59 pJ per bit moved (the figure the pimc targets use)
"""
from __future__ import annotations

from pathlib import Path

from pimc.errors import PimcError, UnknownNameError
from pimc.runtime.pimsim.spec import Controller, DramSpec, Organisation

FGDRAM_PJ_PER_BIT = 3.59  # source: [energy]


def hbm2() -> DramSpec:
    """DRAMsim3's HBM2_8Gb_x128: one 8 GiB stack of 8 legacy 128-bit channels at 2 Gb/s."""
    org = Organisation(
        channels=8,  # source: [dramsim3] channels 8
        pseudo_channels=1,  # source: [dramsim3] legacy 128-bit channels (bus_width 128)
        ranks=1,  # source: [dramsim3] derived: 1024 MB / (64 MB x 16 banks)
        bank_groups=4,  # source: [dramsim3] bankgroups 4
        banks_per_group=4,  # source: [dramsim3] banks_per_group 4
        rows=32768,  # source: [dramsim3] rows 32768
        columns=32,  # source: [dramsim3] 2048 B row / 64 B request = 32 lines
        access_bytes=64)  # source: [dramsim3] request size bus_width/8 x BL = 16 x 4
    params = dict(
        nBL=2,  # source: [dramsim3] burst_cycle = BL/2 = 2
        CL=14, CWL=4, AL=0,  # source: [dramsim3] CL 14, CWL 4, AL 0 (default)
        tRCD=14, tRCDWR=14,  # source: [dramsim3] tRCDRD 14, tRCDWR 14
        tRP=14, tRAS=34, tRC=48,  # source: [dramsim3] tRP 14, tRAS 34, tRC = tRAS + tRP
        tRRD_S=4, tRRD_L=6, tFAW=30,  # source: [dramsim3] tRRD_S 4, tRRD_L 6, tFAW 30
        tCCD_S=1, tCCD_L=2,  # source: [dramsim3] tCCD_S 1, tCCD_L 2
        tWTR_S=6, tWTR_L=8, tWR=16,  # source: [dramsim3] tWTR_S 6, tWTR_L 8, tWR 16
        tRTP=5,  # source: [dramsim3] default tRTP 5 (the ini's tRTP_L/S are never read)
        tRTRS=2,  # source: [dramsim3] default tRTRS 2
        tRFC=260, tREFI=3900)  # source: [dramsim3] tRFC 260, tREFI 3900
    return DramSpec("hbm2", "DRAMsim3 configs/HBM2_8Gb_x128.ini", org, params,
                    tCK_ns=1.0,  # source: [dramsim3] tCK 1.0 ns
                    mapping="rorabgbachco",  # source: [dramsim3] address_mapping
                    controller=Controller(),  # source: [dramsim3] "System / controller" table
                    energy_pj_per_bit=FGDRAM_PJ_PER_BIT)


def hbm3(power_constraint: bool = True) -> DramSpec:
    """AttAcc's HBM3 at 5.2 Gb/s (preset HBM3_8Gb_2R), one stack of 16 channels. The power
    constraint only spaces all-bank and same-bank PIM MACs (nCCDAB / nCCDSB)."""
    org = Organisation(
        channels=16,  # source: [attacc] §2 16 channels per stack
        pseudo_channels=2,  # source: [attacc] §2 2 pseudo-channels per channel
        ranks=2,  # source: [attacc] §2 2 ranks (SIDs) per pCH
        bank_groups=4,  # source: [attacc] §2 4 bank groups per rank
        banks_per_group=4,  # source: [attacc] §2 4 banks per bank group
        rows=16384,  # source: [attacc] §2 2^14 rows per bank
        columns=32,  # source: [attacc] §2 32 columns per row
        access_bytes=32)  # source: [attacc] §2 32 DQ x prefetch 8 = 32 B per column access
    params = dict(
        nBL=2, CL=19, CWL=6,  # source: [attacc] §2 nBL 2, nCL 19, nCWL 6
        tRCD=19, tRCDWR=19, tRP=19,  # source: [attacc] §2 nRCDRD 19, nRCDWR 19, nRP 19
        tRAS=45, tRC=63,  # source: [attacc] §2 nRAS 45, nRC 63
        tRRD_S=2, tRRD_L=4, tFAW=39,  # source: [attacc] §2 nRRDS 2, nRRDL 4, nFAW 39
        tCCD_S=2, tCCD_L=4,  # source: [attacc] §2 nCCDS 2, nCCDL 4
        tWTR_S=8, tWTR_L=11, tWR=21,  # source: [attacc] §2 nWTRS 8, nWTRL 11, nWR 21
        tRTP=8,  # source: [attacc] §2 nRTPL 8 (RD -> PRE of the same bank)
        # source: [attacc] §2 nRTW 3: the read-to-write turnaround, the place DRAMsim3's
        # formulas add tRTRS; AttAcc lists no separate rank-switch gap, so it serves for both
        tRTRS=3,
        tRFC=456, tREFI=5070,  # source: [attacc] §2 nRFC 456 (350 ns), nREFI 5070
        tCCDAB=6 if power_constraint else 4,  # source: [attacc] §2 nCCDAB 6 (NPC: 4)
        tCCDSB=6 if power_constraint else 4)  # source: [attacc] §2 nCCDSB 6 (NPC: 4)
    name = "hbm3" if power_constraint else "hbm3-npc"
    preset = "HBM3_5.2Gbps" if power_constraint else "HBM3_5.2Gbps_NPC"
    return DramSpec(name, f"AttAcc Ramulator2 HBM3_8Gb_2R, {preset}", org, params,
                    tCK_ns=0.769,  # source: [attacc] §2 tCK_ps 769 = 10^6 / (5200 / 4)
                    mapping="chpcrabgbaroco",  # source: [attacc] §2 HBM3-PIM mapper, LSB up
                    energy_pj_per_bit=FGDRAM_PJ_PER_BIT)


def hbm2_pim() -> DramSpec:
    """Samsung HBM2-PIM (Aquabolt-XL) as PIMSimulator models it: 64 independent 64-bit
    pseudo-channels (4 stacks) at tCK 1 ns, 8 PIM units per pseudo-channel."""
    org = Organisation(
        channels=32, pseudo_channels=2,  # source: [pimsim] §1 NUM_CHANS 64 pseudo-channels
        ranks=2,  # source: [pimsim] §1 derived 2 ranks per pseudo-channel (512 MB / 256 MB)
        bank_groups=4, banks_per_group=4,  # source: [pimsim] §1 4 BG x 4 banks
        rows=16384,  # source: [pimsim] §1 16384 rows per bank
        columns=32,  # source: [pimsim] §1 NUM_COLS 128 x 64 bit = 32 bursts of 32 B
        access_bytes=32)  # source: [pimsim] §1 BL 4 x 64 bit = 32 B per access
    params = dict(
        nBL=2,  # source: [pimsim] §1 BL 4 = 2 clock cycles of data bus
        CL=20, CWL=8, AL=0,  # source: [pimsim] §1 RL 20, WL 8, AL 0
        tRCD=14, tRCDWR=10,  # source: [pimsim] §1 tRCDRD 14, tRCDWR 10
        tRP=14, tRAS=33, tRC=47,  # source: [pimsim] §1 tRP 14, tRAS 33, tRC 47
        tRRD_S=4, tRRD_L=6, tFAW=16,  # source: [pimsim] §1 tRRD_S 4, tRRD_L 6, XAW 4 per tXAW 16
        tCCD_S=2, tCCD_L=4,  # source: [pimsim] §1 tCCD_S 2, tCCD_L 4
        tWTR_S=4, tWTR_L=9, tWR=16,  # source: [pimsim] §1 tWTR_S 4, tWTR_L 9, tWR 16
        tRTP=5,  # source: [pimsim] §1 tRTP_L 5 (RD -> PRE of the same bank)
        tRTRS=1,  # source: [pimsim] §1 tRTRS 1
        tRFC=350, tREFI=3900)  # source: [pimsim] §1 tRFC 350, tREFI 3900
    return DramSpec("hbm2-pim", "Samsung PIMSimulator ini/HBM2_samsung_2M_16B_x64.ini, 64 ch",
                    org, params,
                    tCK_ns=1.0,  # source: [pimsim] §1 tCK 1 ns
                    # source: [pimsim] §1 Scheme8: rank | row | column | BG | bank | channel
                    # (6 bits: channel x pseudo-channel) | 5-bit offset
                    mapping="rarocobgbachpc",
                    # source: [pimsim] §1 transaction queue 64; bank queues keep DRAMsim3's 8
                    controller=Controller(read_queue=64, write_buffer=64),
                    energy_pj_per_bit=FGDRAM_PJ_PER_BIT,  # source: [energy]; PIMSimulator's IDD are 0
                    pim=dict(units_per_pseudo_channel=8,  # source: [pimsim] §2 NUM_PIM_BLOCKS 8
                             lanes=16))  # source: [pimsim] §2 16-lane FP16 SIMD


MEMORY_PRESETS = {"hbm2": hbm2, "hbm3": hbm3, "hbm3-npc": lambda: hbm3(False),
                  "hbm2-pim": hbm2_pim}

# The layout a target gets unless told otherwise: DRAMsim3's row:rank:bg:bank:channel:column,
# with the pseudo-channel beside the channel, so a stream fills one row, then the next channel.
TARGET_MAPPING = "rorabgbachpcco"


def spec_from_target(target, mapping: str = TARGET_MAPPING) -> DramSpec:
    """A DramSpec from a pimc Target's `[memory]` (its bank fields and `[memory.timing]`)."""
    mem = target.memory
    if mem.timing is None or not mem.has_banks:
        raise PimcError(f"target '{target.name}': [memory] needs the bank fields (ranks, "
                        "bank_groups, banks_per_group, rows, columns, burst_length) and "
                        "[memory.timing] to be simulated")
    t = mem.timing
    org = Organisation(mem.total_channels, mem.pseudo_channels, mem.ranks, mem.bank_groups,
                       mem.banks_per_group, mem.rows, mem.columns, mem.access_bytes)
    params = dict(nBL=round(mem.burst_tck), CL=t.CL, CWL=t.CWL, tRCD=t.tRCD, tRCDWR=t.tRCDWR,
                  tRP=t.tRP, tRAS=t.tRAS, tRC=t.tRC, tRRD_S=t.tRRD_S, tRRD_L=t.tRRD_L,
                  tFAW=t.tFAW, tCCD_S=t.tCCD_S, tCCD_L=t.tCCD_L, tWTR_S=t.tWTR_S,
                  tWTR_L=t.tWTR_L, tWR=t.tWR, tRTP=t.tRTP_L,  # RD -> PRE within one bank
                  # an absent tRTRS takes DRAMsim3's default, 2 ([dramsim3] tRTRS)
                  tRTRS=2 if t.tRTRS is None else t.tRTRS, tRFC=t.tRFC, tREFI=t.tREFI)
    energy = target.energy.dram_pj_per_bit if target.energy is not None else None
    return DramSpec(target.name, f"pimc target '{target.name}' [memory]", org, params,
                    tCK_ns=t.tCK_ns, mapping=mapping, energy_pj_per_bit=energy)


def get_spec(memory) -> DramSpec:
    """A DramSpec from a pimsim preset name, a pimc target (name, .toml path or Target) with a
    simulatable [memory], or a DramSpec (returned as is)."""
    if isinstance(memory, DramSpec):
        return memory
    if isinstance(memory, str) and memory in MEMORY_PRESETS:
        return MEMORY_PRESETS[memory]()
    from pimc.targets import Target, get_target, preset_names
    if isinstance(memory, Target):
        return spec_from_target(memory)
    text = str(memory)
    if text in preset_names() or text.endswith(".toml") or Path(text).is_file():
        return spec_from_target(get_target(text))
    simulatable = [n for n in preset_names() if get_target(n).memory.has_banks
                   and get_target(n).memory.timing is not None]
    raise UnknownNameError("memory preset", text, [*MEMORY_PRESETS, *simulatable],
                           where="--memory: ")
