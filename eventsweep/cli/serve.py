"""``eventsweep serve``: the web application (search the store, start and watch sweeps)."""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import stat
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from eventsweep.cli import flags
from eventsweep.errors import UsageError
from eventsweep.query import parse_count

TOKEN_ENV = "EVENTSWEEP_TOKEN"
PORT_ENV = "EVENTSWEEP_PORT"
DEFAULT_PORT = 8080


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="the web application: search the store, start and watch sweeps",
        description="Serve the web application: search and plot the store, start sweeps and"
        " watch them live. Binds 127.0.0.1; any other address needs a token.",
    )
    flags.add_store(parser, optional=False)
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    add(
        "--port",
        type=partial(parse_count, "--port"),
        default=None,
        help=f"port (default: ${PORT_ENV}, else {DEFAULT_PORT})",
    )
    add(
        "--token-file",
        metavar="FILE",
        help=f"the login token (else {TOKEN_ENV}; else, beyond loopback, one is generated and"
        " printed once)",
    )
    add(
        "--inventory-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory of inventory files the new-sweep form may read (repeatable)",
    )
    add(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another host name the server answers to (its DNS name, a proxy's; repeatable)",
    )
    add(
        "--demo-dir",
        metavar="DIR",
        help="where an empty store's 'sweep the demo data' writes it (default: in the user's"
        " data directory)",
    )
    add(
        "--open",
        action="store_true",
        help="open the page in a web browser once the server answers ($BROWSER, else the"
        " desktop's)",
    )
    flags.add_connections(parser)
    parser.set_defaults(run=run_serve)


def token_of(
    host: str, token_file: str | None, environ: Mapping[str, str] = os.environ
) -> tuple[str | None, bool]:
    """The login token and whether it was generated here (to be printed once)."""
    from eventsweep.web.security import is_loopback

    if token_file:
        return _read_token(token_file), False
    if environ.get(TOKEN_ENV):
        return environ[TOKEN_ENV].strip(), False
    if is_loopback(host):
        return None, False
    return secrets.token_urlsafe(24), True


def _read_token(path: str) -> str:
    try:
        info = os.stat(path)
        with open(path, encoding="utf-8") as file:
            token = file.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--token-file {path}: cannot read it ({exc})") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(f"--token-file {path} is readable by others: chmod 600 it")
    if len(token) < 16:
        raise UsageError(f"--token-file {path}: a token of at least 16 characters, please")
    return token


def port_of(given: int | None, environ: Mapping[str, str] = os.environ) -> int:
    if given is not None:
        port, flag = int(given), "--port"
    elif environ.get(PORT_ENV):
        port, flag = int(parse_count(f"${PORT_ENV}", environ[PORT_ENV])), f"${PORT_ENV}"
    else:
        return DEFAULT_PORT
    if port > 65535:
        raise UsageError(f"{flag}: {port} is not a port (1 to 65535)")
    return port


def check_host(host: str) -> None:
    """The address to bind must be one this machine can name (before the server starts)."""
    try:
        socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"--host {host}: not an address to bind ({exc})") from None


def config_of(arguments: argparse.Namespace, token: str | None) -> Any:
    from eventsweep.sources.winrpc.options import WinOptions
    from eventsweep.web.context import WebConfig

    store = flags.store_of(arguments)  # a file that is not a store: one line, exit status 2
    assert store is not None
    settings = flags.settings_of(arguments)
    win = settings.options.get("win")
    if isinstance(win, WinOptions):  # a server never prompts on its terminal
        settings = replace(
            settings, options={**settings.options, "win": replace(win, interactive=False)}
        )
    check_host(arguments.host)
    if arguments.demo_dir is not None and not arguments.demo_dir.strip():
        raise UsageError("--demo-dir: empty value (a directory)")
    for directory in arguments.inventory_dir:
        if not os.path.isdir(directory):
            raise UsageError(f"--inventory-dir {directory}: not a directory")
    demo = arguments.demo_dir or os.path.join(os.path.dirname(os.path.abspath(store)), "demo")
    return WebConfig(
        store=store,
        host=arguments.host,
        port=port_of(arguments.port),
        token=token,
        inventory_dirs=tuple(arguments.inventory_dir),
        allow_hosts=tuple(name.lower() for name in arguments.allow_host),
        settings=settings,
        concurrency=int(arguments.concurrency),
        timeout=arguments.timeout,
        demo_dir=demo,
    )


def run_serve(arguments: argparse.Namespace) -> int:
    import uvicorn

    from eventsweep import concurrency
    from eventsweep.web.app import create_app

    token, generated = token_of(arguments.host, arguments.token_file)
    config = config_of(arguments, token)
    os.makedirs(os.path.dirname(os.path.abspath(config.store)), exist_ok=True)
    app = create_app(config)
    host = f"[{config.host}]" if ":" in config.host else config.host
    print(
        f"eventsweep: serving http://{host}:{config.port}/ (store {config.store})", file=sys.stderr
    )
    if generated:
        print(f"eventsweep: login token (shown only now): {token}", file=sys.stderr)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=config.host, port=config.port, log_level="warning", access_log=False
        )
    )
    if arguments.open:
        url = f"http://{host}:{config.port}/?since=7d"
        threading.Thread(target=_open_when_started, args=(server, url), daemon=True).start()
    try:
        server.run()
    finally:
        concurrency.shutdown()
    return 0


def _open_when_started(server: Any, url: str) -> None:
    """The browser is pointed at the page once the server answers (nothing without one)."""
    import webbrowser

    while not server.started and not server.should_exit:
        time.sleep(0.05)
    if server.started:
        webbrowser.open(url)
