"""``python -m daemon``: the production daemon."""

from daemon.server.cli import main

raise SystemExit(main())
