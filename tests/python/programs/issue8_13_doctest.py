def check(n):
    """
    >>> check(-1)
    Traceback (most recent call last):
        ...
    ValueError: negative
    """
    if n < 0: raise ValueError("negative")
    return n
if __name__ == "__main__":
    import doctest; print(doctest.testmod())
