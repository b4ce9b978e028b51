# fan-out benchmark: 16 calls of about 0.3 s of arithmetic each.


def work(seed):
    total = 0
    for i in range(1_200_000):
        total = (total + i * seed) % 1_000_003
    return total


print(sum(map(work, range(16))))
