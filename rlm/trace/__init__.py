"""The trace of a run: JSON Lines, written as the run goes and read back into its tree.

Line 1 is a header (``type: "header"``, format ``version``, settings with secrets removed);
then one event per line. ``writer`` writes it, ``load`` reads it back (``load_tree``
rebuilds the whole tree from the trace alone), ``steps`` groups an agent's events into
steps. (Printing a trace and exporting it for the official visualizer are commands:
``rlm.cli.replay``, ``rlm.cli.official``; the export rebuilds the prompts the model saw,
which belong to the core.)
"""

from rlm.trace.load import load_tree, open_trace, read_trace
from rlm.trace.writer import TraceWriter

__all__ = ["TraceWriter", "load_tree", "open_trace", "read_trace"]
