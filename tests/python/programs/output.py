import sys


def helper(n):
    print("helper says", n)


def talk(n):
    print("a", n, sep="-", end="!\n")
    print("to stderr", n, file=sys.stderr)
    sys.stdout.write("raw write\n")
    sys.stderr.write("raw err\n")
    helper(n * 10)
    print(*range(n), sep=", ")
    sys.stdout.flush()
    sys.stdout.buffer.write("bytes ü %d\n".encode())
    sys.stdout.buffer.flush()
    return n


print("before")
print("talk returned", talk(1))
print("between", file=sys.stderr)
talk(3)
print("after")
