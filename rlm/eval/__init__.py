"""``rlm eval``: paper-style suites, a base model and the RLM side by side.

Tasks are generated on this machine from a seed (``tasks``, ``suites/``), scored as the
paper scores them (``scoring``), run by arms (``arms``: ``base``, ``rlm``, ``rlm-no-sub``)
locally (``runner``) or on a Ray cluster (``cluster``), kept one JSON line per (task, arm)
(``results``), and summed up as a table (``report``) and a chart (``chart``).
Importing this package is light: no model, no Ray, no matplotlib.
"""
