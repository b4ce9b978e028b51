# fan-out benchmark: 32 calls that sleep 0.25 s, through a ThreadPoolExecutor.
import time
from concurrent.futures import ThreadPoolExecutor


def work(i):
    time.sleep(0.25)
    return i * i


with ThreadPoolExecutor(max_workers=32) as pool:
    print(sum(pool.map(work, range(32))))
