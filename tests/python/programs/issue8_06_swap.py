def swap(xs): xs[0], xs[1] = xs[1], xs[0]
a = [(10, "A"), (15, "B")]; swap(a); print(a)
