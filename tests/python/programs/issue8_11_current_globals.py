K = 3
def triple(x): return x * K
def apply_all(f, xs): return [f(x) for x in xs]
if __name__ == "__main__":
    K = 4; print(apply_all(triple, [1, 2, 3]))
