# A 2x2 matrix class with __matmul__, used to compute Fibonacci numbers modulo a prime by
# repeated multiplication: thousands of tiny method calls.


class M2:
    def __init__(self, a, b, c, d):
        self.a, self.b, self.c, self.d = a, b, c, d

    def __matmul__(self, o):
        p = 1_000_000_007
        return M2(
            (self.a * o.a + self.b * o.c) % p,
            (self.a * o.b + self.b * o.d) % p,
            (self.c * o.a + self.d * o.c) % p,
            (self.c * o.b + self.d * o.d) % p,
        )


def primes_below(n):
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\0\0"
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, n, i)))
    return sum(sieve)


if __name__ == "__main__":
    step = M2(1, 1, 1, 0)
    acc = M2(1, 0, 0, 1)
    for _ in range(2000):
        acc = acc @ step
    print(acc.b)
    print(primes_below(30_000_000), primes_below(29_000_000))
