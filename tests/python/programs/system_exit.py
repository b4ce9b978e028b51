import sys


def leave(code):
    print("leaving with", code)
    sys.exit(code)


print("start")
leave(3)
print("not reached")
