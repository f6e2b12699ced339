"""``pipgate lock --build LABEL``: the PEP 751 ``pylock.toml`` of what a build fetched.

File URLs point at pipgate (``--url``, else the ``public_url`` setting, else the
``host``/``port`` it listens on), so ``uv pip install -r pylock.toml`` fetches the very
same files through it, with their hashes checked by the installer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from proxy.cli_log import run_on_fetch_log
from proxy.settings import Settings, SettingsError, load_settings
from storage.base import StorageError

__all__ = ["add_lock_command", "base_url"]


def add_lock_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lock = subparsers.add_parser("lock", help="write the PEP 751 pylock.toml of a build")
    where = lock.add_mutually_exclusive_group()
    where.add_argument("--data-dir", metavar="DIR", help="pipgate's data directory")
    where.add_argument("--config", type=Path, metavar="F", help="pipgate's TOML config file")
    lock.add_argument("--build", required=True, metavar="L", help="the build label")
    lock.add_argument(
        "--url", metavar="URL", help="pipgate's root URL for the file links (default: public_url)"
    )
    lock.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
    lock.set_defaults(handler=lock_command)


def base_url(settings: Settings, explicit: str | None = None) -> str:
    """pipgate's root URL, ending in ``/``."""
    root = explicit or settings.public_url or f"http://{settings.host}:{settings.port}"
    if not root.startswith(("http://", "https://")):
        raise ValueError(f"--url {root!r}: expected an http(s) URL of pipgate")
    return root.rstrip("/") + "/"


def lock_command(args: argparse.Namespace) -> int:
    # packaging.pylock: imported for this command only
    from proxy.audit.pylock import LockError, build_pylock, lock_records, select_locked

    try:
        settings = load_settings(args.config, overrides={"data_dir": args.data_dir})
        root = base_url(settings, args.url)
        records = run_on_fetch_log(args, lambda store: lock_records(store, args.build))
        selection = select_locked(records)
        text = build_pylock(selection.files, base_url=root, label=args.build)
    except (SettingsError, ValueError) as error:
        print(f"pipgate: {error}", file=sys.stderr)
        return 2
    except (StorageError, LockError) as error:
        print(f"pipgate: {error}", file=sys.stderr)
        return 1
    for note in selection.notes:
        print(f"pipgate: note: {note}", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        count = len({f.name for f in selection.files})
        print(f"pipgate: wrote {count} package(s) to {args.output}", file=sys.stderr)
    return 0
