"""``python -m codegen [--check]``: regenerate the models or check they are current."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from codegen._generate import ROOT, TARGET, check, generate

MAX_DIFF_LINES = 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary directory and fail if the committed file differs",
    )
    parser.add_argument(
        "--target",
        type=Path,
        default=TARGET,
        help="file to write or check (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    target: Path = args.target
    rel = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    try:
        if args.check:
            diff = check(target)
            if diff:
                changed = sum(
                    1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))
                )
                sys.stdout.writelines(diff[:MAX_DIFF_LINES])
                if len(diff) > MAX_DIFF_LINES:
                    print(f"... ({len(diff) - MAX_DIFF_LINES} more diff lines)")
                print(
                    f"\n{rel} is stale ({changed} changed lines vs schemas/models/);"
                    " run make codegen (or .venv/bin/python -m codegen)"
                )
                return 1
            print(f"{rel} is up to date.")
            return 0
        changed = generate(target)
    except subprocess.CalledProcessError as exc:
        print(f"codegen failed: {exc}\n{exc.stdout or ''}{exc.stderr or ''}", file=sys.stderr)
        return 2
    print(f"{'wrote' if changed else 'unchanged'}: {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
