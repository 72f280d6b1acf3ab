"""The "exit codes:" epilog of a command's `--help`, in one format for every command (tests/test_exit_codes.py
reads it back and compares it with the codes each command can return)."""

import textwrap

WIDTH = 110


def epilog(codes: dict[int, str]) -> str:
    """`codes` in the order given (the likeliest first); a long meaning wraps under itself, not under the code
    (the commands use RawDescriptionHelpFormatter so that argparse keeps one code per line)."""
    lines = ["exit codes:"]
    for code, meaning in codes.items():
        head = f"  {code}  "
        lines.append(textwrap.fill(meaning, WIDTH, initial_indent=head, subsequent_indent=" " * len(head)))
    return "\n".join(lines)
