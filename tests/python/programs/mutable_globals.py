items = []
alias = items
config = {"n": 0}
seen = set()
buf = bytearray(b"ab")


def record(x):
    items.append(x)
    config["n"] += 1
    seen.add(x % 2)
    buf.extend(b"!")
    return len(items)


def reset():
    global items
    items = ["fresh"]


print(record(1), record(2), record(3))
print(items, alias, alias is items, config, sorted(seen), buf)
reset()
print(items, alias, alias is items)
