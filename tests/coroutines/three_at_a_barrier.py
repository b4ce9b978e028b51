# Three moved coroutines that can only finish together: each connects to a barrier the
# program serves on its own event loop and waits for the word that all three have
# arrived. FaaSified, the barrier is passed only if the three invocations are in flight
# at once and the program's event loop keeps running while it awaits them; otherwise
# each waits out its bound and raises TimeoutError.
import asyncio
import sys


async def meet(port, name, bound):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(name.encode() + b"\n")
    await writer.drain()
    word = await asyncio.wait_for(reader.readline(), bound)
    writer.close()
    if word != b"go\n":
        raise TimeoutError("%s: the barrier closed before all three arrived" % name)
    return "%s passed" % name


async def main():
    # The bound each waits at the barrier (seconds), from the command line: main stays
    # in the program, which serves the barrier.
    bound = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    arrived = []

    async def arrive(reader, writer):
        arrived.append((await reader.readline()).decode().strip())
        waiting.append(writer)
        if len(waiting) == 3:
            for w in waiting:
                w.write(b"go\n")
                await w.drain()

    waiting = []
    server = await asyncio.start_server(arrive, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        passed = await asyncio.gather(meet(port, "a", bound), meet(port, "b", bound), meet(port, "c", bound))
    print(passed)
    print("arrived:", sorted(arrived))


if __name__ == "__main__":
    asyncio.run(main())
