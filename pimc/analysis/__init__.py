"""Reports over analysed and placed IR: per-op flops, bytes, Op/B, device and estimated time
(`pimc analyze`, `Program.report()`), and roofline plots of them."""
from pimc.analysis.report import PHASES, Report, analyze, report_for_program

__all__ = ["PHASES", "Report", "analyze", "report_for_program"]
