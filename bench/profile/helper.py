# A tiny helper applied to every item of a list, and one function doing real work.


def clamp(x, lo=0, hi=255):
    return lo if x < lo else hi if x > hi else x


def blur(pixels, rounds):
    for _ in range(rounds):
        pixels = [(a + b + c) // 3 for a, b, c in zip(pixels, pixels[1:] + pixels[:1], pixels[-1:] + pixels[:-1])]
    return pixels


if __name__ == "__main__":
    raw = [(i * 37) % 400 - 70 for i in range(4000)]
    pixels = [clamp(x) for x in raw]
    print(sum(pixels))
    print(sum(blur(pixels, 3000)))
