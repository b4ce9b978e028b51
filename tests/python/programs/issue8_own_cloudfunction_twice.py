def cloudfunction(f): return f
@cloudfunction
def one(): return 1
def cloudfunction(**opts):
    def deco(f):
        f.opts = opts
        return f
    return deco
@cloudfunction(memory=256)
def two(): return 2
print(one() + two(), two.opts)
