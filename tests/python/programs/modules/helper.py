class Thing:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "Thing(%r)" % self.name


def total(xs):
    print("summing", len(xs))
    return sum(xs)
