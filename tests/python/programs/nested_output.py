import sys

log = []
alias = log


def walk(n):
    print("enter", n)
    if n > 0:
        print("child returned", walk(n - 1))
    print("leave", n, file=sys.stderr)
    log.append(n)
    return n * 10


print(walk(3))
print(log, alias is log)
