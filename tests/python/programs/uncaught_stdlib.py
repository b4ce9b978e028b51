import json


def check(n):
    if n > 2:
        return json.loads("[1, 2")
    return n


print(check(1))
print(check(5))
print("not reached")
