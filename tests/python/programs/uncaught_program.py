class AppError(Exception):
    pass


def check(n):
    if n > 2:
        raise AppError("too big: %d" % n)
    return n


print(check(1))
print(check(5))
print("not reached")
