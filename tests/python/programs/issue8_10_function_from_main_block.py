def apply(fn, x): return fn(x)
if __name__ == "__main__":
    def square(x): return x * x
    print(apply(square, 3))
