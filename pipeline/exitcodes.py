"""The "exit codes:" epilog of a command's `--help`, in one format for every command (tests/test_exit_codes.py
reads it back and compares it with the codes each command can return)."""

import argparse
import textwrap

WIDTH = 110
HEADING = "exit codes:"


def epilog(codes: dict[int, str]) -> str:
    """`codes` in the order given (the likeliest first); a long meaning wraps under itself, not under the code."""
    lines = [HEADING]
    for code, meaning in codes.items():
        head = f"  {code}  "
        lines.append(textwrap.fill(meaning, WIDTH, initial_indent=head, subsequent_indent=" " * len(head)))
    return "\n".join(lines)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's own wrapping for descriptions, but the exit codes kept as laid out: one code per line
    (RawDescriptionHelpFormatter would also stop a long description from wrapping)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(HEADING):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)
