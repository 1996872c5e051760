"""``python -m tui``: the same as ``rlm-tui``."""

from tui.app import main

raise SystemExit(main())
