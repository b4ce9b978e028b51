import asyncio


class Refused(Exception):
    pass


async def square(n, log):
    await asyncio.sleep(0)
    log.append(n)
    print("square", n)
    return n * n


async def refuse(n):
    await asyncio.sleep(0)
    raise Refused("no %d" % n)


async def main():
    log = []
    print(await asyncio.gather(square(1, log), square(2, log), square(3, log)))
    print(log)
    try:
        await asyncio.gather(square(4, log), refuse(5))
    except Refused as exc:
        print("refused:", exc, log)
    print(await square(6, []), await square(7, []))


if __name__ == "__main__":
    asyncio.run(main())
