class Node:
    def __init__(self, v, nxt=None): self.v, self.nxt = v, nxt
def total(head):
    s = 0
    while head is not None:
        s += head.v; head = head.nxt
    return s
def bump(head):
    while head is not None:
        head.v += 1; head = head.nxt
head = None
for i in range(100000): head = Node(i, head)
print(total(head)); bump(head); print(total(head))
