import decimal
def triple_d(x): return x * 3
decimal.getcontext().prec = 50; print(triple_d(decimal.Decimal(2) ** 100))
