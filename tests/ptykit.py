"""A program run in a terminal, as a person runs it: a pseudo-terminal for its stdin, stdout and stderr (so it
sees a tty and is interactive), lines typed into it, and what it printed read back."""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\r")


class Terminal:
    def __init__(self, argv: list[str] | str, *, cwd, env: dict[str, str], columns: int = 120, rows: int = 40,
                 shell: bool = False):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, shell=shell,
                                     env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns)})
        os.close(slave)
        self.master = master
        self.raw = b""

    @property
    def text(self) -> str:
        """Everything printed so far, without the terminal's escape sequences."""
        return _ESCAPES.sub("", self.raw.decode("utf-8", "replace"))

    def expect(self, pattern: str, timeout: float = 60) -> re.Match:
        """Wait until what was printed (since the start) matches `pattern` (a regex)."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text)
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"{pattern!r} not printed within {timeout}s; the terminal shows:\n{self.text}")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def close(self, timeout: float = 30) -> int:
        """Wait for the program to end (it was told to), reading what it prints meanwhile; its exit code."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait()
        while self._read(0.1):
            pass
        os.close(self.master)
        return code

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the program ended and closed its side
            return False
        self.raw += chunk
        return bool(chunk)
