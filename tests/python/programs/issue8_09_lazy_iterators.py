import itertools
def squares(): return map(lambda k: k * k, itertools.count(1))
def doubled(xs): return map(lambda x: 2 * x, xs)
print(list(itertools.islice(squares(), 5))); print(type(doubled([1])).__name__)
