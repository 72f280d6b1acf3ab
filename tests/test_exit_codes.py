"""Every command's `--help` lists exactly the exit codes the command can end with.

The codes are read from the source, not from a list kept here: each command's function (what `set_defaults(func=)`
names) is parsed, and every `return <code>`, `return _fail(..., <code>)` and `raise SystemExit(...)`, in it and in
the functions of its module it calls, gives its codes (constants, module-level names, both arms of `a if c else
b`). `return result.exit_code` is the snapshot's status code (`pipeline.flow.EXIT_CODES` and the blocking-check
rule of `SnapshotResult.exit_code`, parsed the same way). The only code not derived is the reviewed one below.
The `--help` text comes from the real entry point, `.venv/bin/poolscope <command> --help`, in a subprocess.
"""

import argparse
import ast
import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clikit import cli_env
from pipeline import flow
from pipeline.cli import build_parser

POOLSCOPE = str(Path(sys.executable).parent / "poolscope")
ARGPARSE_USAGE = 2  # argparse's own exit on a bad command line: every command has it
# Returns whose code is not in our source, with the words the --help must use for them (reviewed by hand:
# pipeline/demo.py dev_command `return proc.wait()`: Dagster's webserver ran in the foreground and ended;
# pipeline/sqlshell.py sql_command `return proc.wait()`: the DuckDB shell ran in the foreground and ended).
NOT_DERIVED = {("dev_command", "proc.wait()"): "the exit code of the Dagster webserver (dg dev)",
               ("sql_command", "proc.wait()"): "the exit code of the DuckDB shell"}


def commands() -> dict[str, object]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {name: parser.get_default("func") for name, parser in sub.choices.items()}


def _function_ast(func) -> ast.FunctionDef:
    return ast.parse(textwrap.dedent(inspect.getsource(func))).body[0]


def _own_nodes(fn: ast.FunctionDef):
    """The function's statements and expressions, not those of functions or lambdas defined inside it."""
    stack = list(fn.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                stack.append(child)


class Codes:
    def __init__(self, func):
        self.func = func
        self.codes: set[int] = set()
        self.not_derived: list[str] = []

    def value(self, expr: ast.expr, where) -> None:
        g = where.__globals__
        if isinstance(expr, ast.Constant) and isinstance(expr.value, int):
            self.codes.add(expr.value)
        elif isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            self.codes.add(1)  # SystemExit("message"): Python prints it and exits 1
        elif isinstance(expr, ast.JoinedStr):
            self.codes.add(1)
        elif isinstance(expr, ast.Name) and isinstance(g.get(expr.id), int):
            self.codes.add(g[expr.id])
        elif isinstance(expr, ast.IfExp):
            self.value(expr.body, where)
            self.value(expr.orelse, where)
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "_fail":
            if len(expr.args) == 2:
                self.value(expr.args[-1], where)
            else:  # pipeline/init.py's _fail(message) always exits 2: read its own return
                self.returns(g["_fail"])
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "int":
            self.value(expr.args[0], where)
        elif isinstance(expr, ast.Attribute) and expr.attr == "exit_code":
            self.snapshot_exit_code()
        else:
            self.not_derived.append(f"{where.__name__}: {ast.unparse(expr)}")

    def snapshot_exit_code(self) -> None:
        self.codes |= set(flow.EXIT_CODES.values())
        prop = flow.SnapshotResult.exit_code.fget
        for node in _own_nodes(_function_ast(prop)):
            if isinstance(node, ast.Return) and isinstance(node.value, ast.IfExp):
                for arm in (node.value.body, node.value.orelse):
                    if isinstance(arm, ast.Constant):
                        self.codes.add(arm.value)

    def returns(self, func) -> None:
        for node in _own_nodes(_function_ast(func)):
            if isinstance(node, ast.Return) and node.value is not None:
                self.value(node.value, func)
        self.exits(func, seen=set())

    def exits(self, func, seen: set) -> None:
        """`raise SystemExit(...)` here and in the functions of the same module this one calls."""
        if func in seen:
            return
        seen.add(func)
        for node in _own_nodes(_function_ast(func)):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                    and getattr(node.exc.func, "id", None) == "SystemExit":
                self.value(node.exc.args[0] if node.exc.args else ast.Constant(0), func)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                callee = func.__globals__.get(node.func.id)
                if inspect.isfunction(callee) and callee.__module__ == func.__module__:
                    self.exits(callee, seen)


def derived(func) -> tuple[set[int], list[str]]:
    found = Codes(func)
    found.returns(func)
    return found.codes | {ARGPARSE_USAGE}, found.not_derived


def listed(help_text: str) -> tuple[set[int], str]:
    assert "exit codes:" in help_text, help_text
    section = help_text[help_text.index("exit codes:"):]
    return {int(m) for m in re.findall(r"^  (\d+)  \S", section, re.M)}, section


@pytest.mark.parametrize("name", sorted(commands()))
def test_help_lists_the_exit_codes_the_command_can_return(name):
    func = commands()[name]
    codes, others = derived(func)
    proc = subprocess.run([POOLSCOPE, name, "--help"], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    shown, section = listed(proc.stdout)
    assert shown == codes, f"{name}: --help lists {sorted(shown)}, the code can return {sorted(codes)}"
    for text in others:
        words = NOT_DERIVED.get((func.__name__, text.split(": ", 1)[1]))
        assert words is not None, f"{name}: cannot tell which code `{text}` returns; add it to NOT_DERIVED"
        assert words in section, f"{name}: --help does not mention {words!r}"


def test_the_derivation_sees_every_path_of_the_snapshot_and_report_commands():
    """A check on the reader itself: the codes the README promises for these two are found in the source."""
    from pipeline import commands as cmds

    assert derived(cmds.snapshot_command) == ({0, 1, 2, 3, 4, 5}, [])
    assert derived(cmds.report_command) == ({0, 1, 2, 4}, [])
    assert derived(cmds.history_command) == ({0, 1, 2}, [])
