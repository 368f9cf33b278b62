"""Baseline MLLP servers for bench/mllp_ingest.py: they ACK every message and store nothing.

``python-hl7``: python-hl7's asyncio server (``hl7.mllp.start_hl7_server``), the way its docs
show it: ``reader.readmessage()`` (which parses with ``hl7.parse``), ``message.create_ack()``,
``writer.writemessage(ack)``, ``await writer.drain()``; connections are kept open and handled
in order. Runs on uvloop (the hub's default loop) unless ``--loop asyncio``.

``hl7apy``: hl7apy's own ``hl7apy.mllp.MLLPServer`` (a ``socketserver.ThreadingTCPServer``: a
thread per connection) with one handler for ``ADT^A01^ADT_A01``. By default the handler builds
the ACK from the MSH fields with string operations, so the figure is the server's cost, not
hl7apy's parser; ``--hl7apy-parse`` parses each message with ``hl7apy.parser.parse_message`` and
builds the ACK as an hl7apy ``Message`` instead (what a typical hl7apy application does). Note:
this server answers ONE message per connection and then closes it (see ``MLLPRequestHandler
.handle``), so its clients must connect once per message.

    python bench/mllp_bare_servers.py --kind python-hl7 --port 2576
    python bench/mllp_bare_servers.py --kind hl7apy --port 2577 [--hl7apy-parse]

Prints ``ready <port>`` on stdout once listening; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
import threading
import time

_ids = itertools.count(1)


def serve_python_hl7(host: str, port: int, loop_kind: str) -> None:
    import hl7.mllp

    if loop_kind == "uvloop":
        import uvloop

        uvloop.install()

    async def handle(reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
        try:
            while not writer.is_closing():
                message = await reader.readmessage()
                writer.writemessage(message.create_ack())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = await hl7.mllp.start_hl7_server(handle, host, port, backlog=2048)
        print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
        async with server:
            await stop.wait()

    asyncio.run(main())


def _string_ack(incoming: str) -> str:
    msh = incoming.split("\r", 1)[0].split("|")
    # msh[0]="MSH", msh[1]=encoding chars; field n is msh[n-1] for n >= 2
    field = lambda n: msh[n - 1] if len(msh) >= n else ""  # noqa: E731
    trigger = field(9).split("^")[1] if "^" in field(9) else ""
    ts = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    return (
        f"MSH|{field(2)}|{field(5)}|{field(6)}|{field(3)}|{field(4)}|{ts}||ACK^{trigger}^ACK|"
        f"BARE{next(_ids)}|{field(11)}|{field(12)}\rMSA|AA|{field(10)}\r"
    )


def serve_hl7apy(host: str, port: int, parse: bool) -> None:
    from hl7apy.mllp import AbstractHandler, MLLPServer

    class AckHandler(AbstractHandler):
        def reply(self) -> str:
            if parse:
                from hl7apy.core import Message
                from hl7apy.parser import parse_message

                msg = parse_message(self.incoming_message, find_groups=False)
                ack = Message("ACK", version=msg.version)
                ack.msh.msh_3 = msg.msh.msh_5.value
                ack.msh.msh_4 = msg.msh.msh_6.value
                ack.msh.msh_5 = msg.msh.msh_3.value
                ack.msh.msh_6 = msg.msh.msh_4.value
                ack.msh.msh_9 = f"ACK^{msg.msh.msh_9.msh_9_2.value}^ACK"
                ack.msh.msh_10 = f"BARE{next(_ids)}"
                ack.msh.msh_11 = msg.msh.msh_11.value
                ack.add_segment("MSA")
                ack.msa.msa_1 = "AA"
                ack.msa.msa_2 = msg.msh.msh_10.value
                return ack.to_mllp()
            return "\x0b" + _string_ack(self.incoming_message) + "\x1c\r"

    server = MLLPServer(host, port, {"ADT^A01^ADT_A01": (AckHandler,)})
    server.daemon_threads = True

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"ready {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kind", choices=("python-hl7", "hl7apy"), required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    p.add_argument("--hl7apy-parse", action="store_true")
    a = p.parse_args()
    if a.kind == "python-hl7":
        serve_python_hl7(a.host, a.port, a.loop)
    else:
        serve_hl7apy(a.host, a.port, a.hl7apy_parse)
    sys.exit(0)


if __name__ == "__main__":
    main()
