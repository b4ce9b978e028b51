class Node:
    def __init__(self, data, nxt=None): self.data, self.nxt = data, nxt
class Stack:
    def __init__(self): self.head = None
    def push(self, data): self.head = Node(data, self.head)
s = Stack(); s.push(0); s.push(1); print(s.head.data, s.head.nxt.data, s.head.nxt is s.head)
s.push(2); print(s.head.data, s.head.nxt.data, s.head.nxt.nxt.data)
