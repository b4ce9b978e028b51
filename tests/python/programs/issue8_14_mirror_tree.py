class N:
    def __init__(self, v, l=None, r=None): self.v, self.l, self.r = v, l, r
def mirror(t):
    if t: t.l, t.r = mirror(t.r), mirror(t.l)
    return t
root = N("r", N("a"), N("b")); left = root.l; mirror(root)
print(repr(root.l.v), repr(root.r.v), root.r is left)
