# A small Money value class summed over a ledger with sum() and compared with <.


class Money:
    def __init__(self, cents):
        self.cents = cents

    def __add__(self, other):
        return Money(self.cents + other.cents)

    def __radd__(self, other):
        return self if other == 0 else self + other

    def __eq__(self, other):
        return self.cents == other.cents

    def __lt__(self, other):
        return self.cents < other.cents

    def __str__(self):
        return "%d.%02d" % divmod(self.cents, 100)


def interest(balance_cents, years):
    total = balance_cents
    for _ in range(years * 600_000):
        total = total + total * 3 // 10_000_000
    return total


if __name__ == "__main__":
    ledger = [Money((i * 131) % 5000) for i in range(1500)]
    print(sum(ledger), max(ledger))
    print(interest(1_000_000, 20))
