from array import array
def fill(buf):
    for i in range(len(buf)): buf[i] = i * i
a = array('i', [0]) * 4; fill(a); print(list(a))
