import io
def write_row(out, n): print("row", n, file=out)
buf = io.StringIO(); write_row(buf, 1); write_row(buf, 2); print(buf.getvalue(), end="")
