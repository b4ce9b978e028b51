class Link:
    def __init__(self, name): self.name = name; self.next = None
def rotate(a):
    a.name, a.next.name = a.next.name, a.name
    return a.next.next is a
a = Link("a"); b = Link("b"); a.next = b; b.next = a
print(rotate(a), a.name, b.name, a.next is b, b.next is a)
