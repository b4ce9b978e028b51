def check(n):
    if n > 2:
        return {"a": 1}["b%d" % n]
    return n


print(check(1))
print(check(5))
print("not reached")
