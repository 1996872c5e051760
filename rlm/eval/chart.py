"""The chart: score against context length, one line per arm, one panel per suite (like
the paper's first figure), written as a PNG with matplotlib (the optional extra ``eval``:
``uv sync --extra eval``)."""

from __future__ import annotations

from pathlib import Path

from rlm.errors import ConfigError
from rlm.eval.report import Summary
from rlm.eval.tasks import length_label

MISSING = ("The chart needs matplotlib: `uv sync --extra eval` (or `pip install "
           "'rlm[eval]'`). The table and the results file do not.")
# Colour, marker, line: dashed for the ablation, so it shows where it lies on the rlm line.
STYLES = {"base": ("#7f7f7f", "s", "-"), "rlm": ("#1f77b4", "o", "-"),
          "rlm-no-sub": ("#ff7f0e", "^", "--")}


def chart_path_for(results: str | Path) -> Path:
    """``results.jsonl`` -> ``results.png``."""
    return Path(results).expanduser().with_suffix(".png")


def write_chart(summary: Summary, path: str | Path, title: str = "") -> Path:
    """Draw ``summary`` into the PNG ``path``; returns the path.

    Raises:
        ConfigError: matplotlib is not installed (the message says how to add it).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: a file only
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(MISSING) from None
    suites = summary.suites or ["all"]
    fig, axes = plt.subplots(1, len(suites), figsize=(4.2 * len(suites), 3.6), squeeze=False,
                             sharey=True)
    for ax, suite in zip(axes[0], suites, strict=True):
        _panel(ax, summary, suite)
    axes[0][0].set_ylabel("score")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle(title or "score against context length", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _panel(ax, summary: Summary, suite: str) -> None:
    for arm in summary.arms:
        points = [(length, summary.mean(suite, length, arm)) for length in summary.lengths]
        points = [(x, y) for x, y in points if y is not None]
        if not points:
            continue
        color, marker, line = STYLES.get(arm, (None, "o", "-"))
        ax.plot([x for x, _ in points], [y for _, y in points], label=arm, color=color,
                marker=marker, linestyle=line, linewidth=1.8)
    ax.set_title(suite, fontsize=10)
    ax.set_xscale("log", base=2)
    ax.set_xticks(summary.lengths or [1])
    ax.set_xticklabels([length_label(x) for x in summary.lengths] or [""])
    ax.minorticks_off()
    ax.set_xlabel("context length (tokens)")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(True, alpha=0.3)
