# A comparator given to sorted() through functools.cmp_to_key: called n log n times.
import functools


def by_score_then_name(a, b):
    if a[1] != b[1]:
        return -1 if a[1] > b[1] else 1
    return (a[0] > b[0]) - (a[0] < b[0])


def histogram(rows, buckets):
    counts = [0] * buckets
    for _ in range(8000):
        for _, score in rows:
            counts[score * buckets // 1000] += 1
    return counts


if __name__ == "__main__":
    rows = [("n%04d" % i, (i * 7919) % 1000) for i in range(600)]
    ranked = sorted(rows, key=functools.cmp_to_key(by_score_then_name))
    print(ranked[:3])
    print(histogram(ranked, 10))
