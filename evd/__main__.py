"""``python -m evd`` is the ``evd`` command."""

from evd.cli.main import main

raise SystemExit(main())
