"""`poolscope init`: write a commented starter `poolscope.yaml`.

The template is package data (`pipeline/templates/poolscope.yaml`), read with importlib.resources so that an
installed wheel writes the same file as a source checkout. It holds every key `pipeline/config.py` accepts, the
optional ones commented out with their defaults (tests/test_init.py checks both against the config model).
"""

import argparse
import os
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

from pipeline.exitcodes import HelpFormatter, epilog

DEFAULT_PATH = "poolscope.yaml"
INIT_EXIT_CODES = {
    0: "the starter file was written",
    2: "usage error, or nothing written: the file exists (use --force), the path is a folder, or it cannot be "
       "written",
}


def template_text() -> str:
    return files("pipeline").joinpath("templates", "poolscope.yaml").read_text(encoding="utf-8")


def add_parsers(sub) -> None:
    p = sub.add_parser("init", help="write a commented starter poolscope.yaml", epilog=epilog(INIT_EXIT_CODES),
                       formatter_class=HelpFormatter)
    p.add_argument("--out", default=DEFAULT_PATH, metavar="FILE",
                   help=f"where to write it (default ./{DEFAULT_PATH})")
    p.add_argument("--force", action="store_true", help="replace the file if it exists")
    p.set_defaults(func=init_command)


def _fail(message: str) -> int:
    print(f"poolscope: {message}", file=sys.stderr)
    return 2


def init_command(args: argparse.Namespace) -> int:
    path = Path(args.out)
    text = template_text()
    if path.is_dir():
        return _fail(f"{path} is a folder; name the file to write, e.g. --out {path / DEFAULT_PATH}")
    if path.exists() and not args.force:
        return _fail(f"{path} already exists; not overwritten (--force replaces it, --out FILE writes elsewhere)")
    try:
        if args.force:
            _replace(path, text)
        else:
            # Exclusive create: a file that appeared since the check above is still not overwritten.
            with path.open("x", encoding="utf-8") as fh:
                fh.write(text)
    except FileExistsError:
        return _fail(f"{path} already exists; not overwritten (--force replaces it, --out FILE writes elsewhere)")
    except OSError as exc:
        return _fail(f"cannot write {path}: {exc.strerror or exc.__class__.__name__}")
    print(f"wrote {path}")
    print("next: replace <REGION> and <PROJECT_ID> under targets, export HUAWEICLOUD_SDK_AK and "
          f"HUAWEICLOUD_SDK_SK, then run: poolscope snapshot --config {path}")
    return 0


def _replace(path: Path, text: str) -> None:
    """Write beside the file, then rename over it: an interrupted --force leaves the old file whole."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a config file is not a secret (credentials never live in it)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
