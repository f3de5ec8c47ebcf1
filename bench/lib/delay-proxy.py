#!/usr/bin/env python3
"""delay-proxy: TCP forwarders that hold every chunk a fixed time in each direction.

usage: delay-proxy.py DELAY_MS LISTEN_ADDR:PORT=TARGET_ADDR:PORT ...

The kernel of the bench machine may lack netem, so bench/fleet adds a link's latency here: every chunk
read from one side is written to the other DELAY_MS after it was read (half the profile's round trip
each way), in order. Bandwidth is shaped by tc on the veth links, not here. At most QUEUE_CHUNKS chunks
wait per direction, so a fast sender is slowed down instead of filling memory. Prints "ready" once every
listener is bound; runs until killed.
"""

import asyncio
import sys
import time

CHUNK = 65536
QUEUE_CHUNKS = 64


async def pump(reader, writer, delay):
    queue = asyncio.Queue(QUEUE_CHUNKS)

    async def read_side():
        try:
            while True:
                data = await reader.read(CHUNK)
                await queue.put((time.monotonic() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            await queue.put((0.0, b""))

    async def write_side():
        try:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    await asyncio.gather(read_side(), write_side())


async def serve(listen, target, delay):
    host, port = target.rsplit(":", 1)

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                pump(client_reader, server_writer, delay), pump(server_reader, client_writer, delay)
            )
        finally:
            for w in (client_writer, server_writer):
                w.close()

    lhost, lport = listen.rsplit(":", 1)
    return await asyncio.start_server(handle, lhost, int(lport), reuse_address=True, backlog=256)


async def main():
    if len(sys.argv) < 3:
        sys.exit("usage: delay-proxy.py DELAY_MS LISTEN_ADDR:PORT=TARGET_ADDR:PORT ...")
    delay = float(sys.argv[1]) / 1000.0
    servers = []
    for spec in sys.argv[2:]:
        listen, target = spec.split("=", 1)
        servers.append(await serve(listen, target, delay))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
