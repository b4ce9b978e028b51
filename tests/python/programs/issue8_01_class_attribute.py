class Unit:
    def __init__(self, n): self.n = n
Unit.ONE = Unit(1)
def total(k): return Unit.ONE.n + k
print(total(41))
