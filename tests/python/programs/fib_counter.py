counter = 0


def fib(x):
    global counter
    counter += 1
    if x < 2:
        return x
    return fib(x - 1) + fib(x - 2)


print(fib(12), counter)
print(fib(5), counter)
