"""`python -m dockyard.registry [serve] --addr HOST:PORT --root DIR` and `... gc --root DIR [--dry-run]`."""

from __future__ import annotations

import argparse
import sys

from dockyard.errors import DockyardError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in ("serve", "gc") else "serve"
    parser = argparse.ArgumentParser(prog=f"python -m dockyard.registry {command}")
    parser.add_argument("--root", required=True, help="registry state directory")
    if command == "serve":
        parser.add_argument("--addr", default="127.0.0.1:5000", help="HOST:PORT to listen on (port 0: any free port)")
        parser.add_argument("--tls-cert")
        parser.add_argument("--tls-key")
        parser.add_argument("--auth", help="htpasswd:FILE or token:htpasswd=FILE[,acl=FILE][,anonymous=pull]...")
        parser.add_argument("--notify", action="append", default=[], help="webhook URL for push/delete events")
        parser.add_argument("--proxy-remote", help="be a pull-through cache of this registry URL")
        parser.add_argument("--proxy-username", default="")
        parser.add_argument("--proxy-password", default="")
        parser.add_argument("--proxy-ttl", help="revalidate cached tags after this long (300, 10m, 168h) [0]")
    else:
        parser.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    args = parser.parse_args(argv)
    try:
        if command == "serve":
            from dockyard.registry import serve
            from dockyard.registry.proxy import options

            proxy = options(args.proxy_remote, args.proxy_username, args.proxy_password, args.proxy_ttl)
            serve(args.addr, args.root, tls_cert=args.tls_cert, tls_key=args.tls_key, auth=args.auth, notify=args.notify,
                  proxy=proxy)
        else:
            from dockyard.registry import gc

            report = gc(args.root, args.dry_run)
            verb = "would delete" if args.dry_run else "deleted"
            for digest in report.deleted:
                print(f"{verb} {digest}")
            print(f"{verb} {len(report.deleted)} blob(s), {report.freed_bytes} bytes; kept {report.marked} referenced")
    except DockyardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
