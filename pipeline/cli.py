"""`poolscope` command line. Each subcommand lives with its concern and registers itself here."""

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed distribution's version (pyproject.toml's, as recorded at install time)."""
    try:
        return version("poolscope")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    from pipeline import commands, demo, init, sqlshell
    from pipeline.simulator import cli as simulator_cli

    parser = argparse.ArgumentParser(
        prog="poolscope",
        description="Inventory snapshots of Huawei Cloud ModelArts resource pools.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    init.add_parsers(sub)
    commands.add_parsers(sub)
    demo.add_parsers(sub)
    sqlshell.add_parsers(sub)
    simulator_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
