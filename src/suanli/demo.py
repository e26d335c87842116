"""`make demo`: show this machine as suanli sees it."""

from __future__ import annotations

import sys

from suanli.agent.cli import main as agent_main


def main() -> int:
    return agent_main(["collect"])


if __name__ == "__main__":
    sys.exit(main())
