"""Roofline PNGs of a `Report`: one roofline per device of the target (attainable FLOP/s =
min(peak, bandwidth x Op/B), log-log) and the ops as points at (Op/B, flops / estimated time),
coloured by the device they were placed on.

Points are the report's op groups (one per op, shape and device; `Report.by_type()`), sized by
their share of the estimated time, and the slowest groups are labelled: a 70B model has
thousands of ops but a few dozen distinct ones, and the repeats would only overdraw each other.
Ops that move data but compute nothing (concat, embedding, cast) have Op/B 0, which a log axis
cannot show; the caption counts them.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pimc.errors import PimcError

# One colour per IR device kind, the same in every plot (matplotlib's tab10 palette).
DEVICE_COLORS = {"xpu": "#1f77b4", "npu": "#1f77b4", "pim": "#ff7f0e", "logic_pim": "#2ca02c",
                 "host": "#7f7f7f"}
LABELLED = 8  # the slowest op groups get a text label


def check_plot_path(path: str | Path) -> Path:
    """Fail before any slow work when `path` cannot be written: a missing folder, a folder."""
    path = Path(path)
    if not path.parent.is_dir():
        raise PimcError(f"cannot write plot '{path}': no such directory '{path.parent}'")
    if path.is_dir():
        raise PimcError(f"cannot write plot '{path}': it is a directory")
    if path.suffix.lower() != ".png":
        raise PimcError(f"plot '{path}': only .png is written; name the file *.png")
    return path


def plot_roofline(report, path: str | Path, dpi: int = 150) -> Path:
    """Draw `report` as a roofline PNG at `path`, written to a temporary file beside it and
    renamed, so a failure leaves no half-written image."""
    path = check_plot_path(path)
    figure = roofline_figure(report)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        figure.savefig(tmp, dpi=dpi, format="png")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except OSError as e:
        os.unlink(tmp)
        raise PimcError(f"cannot write plot '{path}': {e.strerror}") from None
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        import matplotlib.pyplot as plt
        plt.close(figure)
    return path


def roofline_figure(report):
    import matplotlib
    matplotlib.use("Agg")  # no display: the CLI and tests run headless
    import matplotlib.pyplot as plt

    devices = report.target.devices()
    groups = [g for g in report.by_type() if g["op_b"] > 0 and g["est_time_s"] > 0]
    hidden = sum(g["count"] for g in report.by_type() if g["op_b"] == 0)
    ridges = [d.ridge_op_b for d in devices.values()]
    op_bs = [g["op_b"] for g in groups]
    lo = min([*op_bs, *ridges, 1.0]) / 4
    hi = max([*op_bs, *ridges, 1.0]) * 4
    fig, ax = plt.subplots(figsize=(9, 6), layout="constrained")
    xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    for d in devices.values():
        color = DEVICE_COLORS.get(d.name, "#000000")
        ax.plot(xs, [min(d.peak_flops, d.bandwidth_bytes_s * x) for x in xs], color=color,
                linewidth=2, label=f"{d.name} ({d.kind}): {d.peak_flops / 1e12:.3g} TFLOP/s, "
                                   f"{d.bandwidth_bytes_s / 1e12:.3g} TB/s, ridge "
                                   f"{d.ridge_op_b:.3g} Op/B")
        ax.plot([d.ridge_op_b], [d.peak_flops], marker="|", markersize=12, color=color)
    placed = set()
    for g in groups:
        first = g["device"] not in placed
        placed.add(g["device"])
        ax.scatter([g["op_b"]], [g["flops"] / g["est_time_s"]], s=20 + 400 * g["share"],
                   color=DEVICE_COLORS.get(g["device"], "#000000"), alpha=0.75,
                   edgecolors="black", linewidths=0.5, zorder=3,
                   label=f"ops on {g['device']}" if first else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ys = [g["flops"] / g["est_time_s"] for g in groups]
    ax.set_ylim(min([*ys, *(d.bandwidth_bytes_s * lo for d in devices.values())]) / 2,
                max(d.peak_flops for d in devices.values()) * 3)
    _label(ax, fig, sorted(groups, key=lambda g: -g["est_time_s"])[:LABELLED])
    ax.set_xlabel("arithmetic intensity (Op/B, flops per DRAM byte)")
    ax.set_ylabel("FLOP/s (roofline: attainable; points: flops / estimated time)")
    ax.set_title(report.title(), fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    legend = ax.legend(loc="lower right", fontsize=8, scatterpoints=1)
    for handle in legend.legend_handles:
        if hasattr(handle, "set_sizes"):  # a device's point, drawn at a fixed size
            handle.set_sizes([40])
    note = f"{report.summary()}\npoint area ~ share of the estimated time"
    if hidden:
        note += f"; {hidden} data-movement ops (Op/B 0) not shown"
    ax.text(0.01, 0.99, note, transform=ax.transAxes, fontsize=7, va="top")
    return fig


def _label(ax, fig, groups: list[dict]) -> None:
    """Label points, each text moved down until it overlaps no earlier one: ops of one model
    cluster at a few Op/B values, and stacked labels would be unreadable."""
    points_per_pixel = 72 / fig.dpi
    taken: list[tuple[float, float, float, float]] = []  # x0, y0, x1, y1 in points
    for g in groups:
        text = f"{g['op'].removeprefix('llm.')} {g['shape']} x{g['count']}"
        xy = (g["op_b"], g["flops"] / g["est_time_s"])
        px, py = (v * points_per_pixel for v in ax.transData.transform(xy))
        width, height, dy = 4.2 * len(text), 9.0, -4.0
        while any(px + 8 < x1 and x0 < px + 8 + width and py + dy < y1 and y0 < py + dy + height
                  for x0, y0, x1, y1 in taken):
            dy -= height
        taken.append((px + 8, py + dy, px + 8 + width, py + dy + height))
        ax.annotate(text, xy, textcoords="offset points", xytext=(8, dy), fontsize=7,
                    arrowprops=dict(arrowstyle="-", color="0.5", linewidth=0.5) if dy < -4 else None)
