# A 2-D vector class in the inner loop of a particle simulation: every `+` and `*` on a
# Vec is a method call. Moved, each one is an invocation.


class Vec:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __add__(self, other):
        return Vec(self.x + other.x, self.y + other.y)

    def __mul__(self, k):
        return Vec(self.x * k, self.y * k)

    def norm2(self):
        return self.x * self.x + self.y * self.y


def settle(n):
    # The one piece of real work: a long arithmetic loop.
    total = 0.0
    for i in range(n):
        total += (i % 13) * 0.25
    return total


if __name__ == "__main__":
    particles = [(Vec(i, 0.0), Vec(0.5, i * 0.1)) for i in range(20)]
    for step in range(100):
        particles = [(p + v * 0.01, v) for p, v in particles]
    print(round(sum(p.norm2() for p, _ in particles), 4))
    print(settle(10_000_000))
