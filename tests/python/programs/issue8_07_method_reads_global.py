BASE = ord("A")
class Shape:
    def __init__(self, n): self.n = n
    def code(self): return BASE + self.n
def describe(shape): return shape.code()
print(describe(Shape(1)))
