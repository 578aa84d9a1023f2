"""``python -m rankshift.cli``: the ``rankshift`` command."""

from rankshift.cli import main

raise SystemExit(main())
