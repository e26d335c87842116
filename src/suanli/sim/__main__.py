"""`python -m suanli.sim`: the fleet simulator without the rest of the `suanli` CLI."""

import sys

from suanli.sim.cli import main

sys.exit(main())
