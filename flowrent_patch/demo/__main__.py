"""``python -m flowrent_patch.demo serve``: the app process (what runs in FlowRent's
container); anything else is ``flowmon demo``'s command line."""

from __future__ import annotations

import argparse
import sys

from flowrent_patch.demo.runner import main


def serve(argv: list[str]) -> int:
    import uvicorn

    from flowrent_patch.jsonlog import uvicorn_log_config

    p = argparse.ArgumentParser(prog="python -m flowrent_patch.demo serve")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5002)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    uvicorn.run(
        "flowrent_patch.demo.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=uvicorn_log_config(),
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        sys.exit(serve(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
