"""``python -m tui``: the same as ``rlm-tui``."""

from tui.start import main

raise SystemExit(main())
