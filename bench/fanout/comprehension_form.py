# fan-out benchmark: 32 calls that sleep 0.25 s, written as a list comprehension.
import time


def work(i):
    time.sleep(0.25)
    return i * i


print(sum([work(i) for i in range(32)]))
