# fan-out benchmark: 32 calls that sleep 0.25 s, written with map.
import time


def work(i):
    time.sleep(0.25)
    return i * i


print(sum(map(work, range(32))))
