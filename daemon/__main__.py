"""``python -m daemon``: the production daemon."""

from daemon.cli import main

raise SystemExit(main())
