"""rlm-tui: the Textual app that runs an RLM and shows its tree of agents live.

``tui`` imports ``rlm``; ``rlm`` never imports ``tui``. Start it with ``rlm-tui`` or
``python -m tui`` (``tui.start.main``); the app is ``tui.app.RLMApp``.
"""
