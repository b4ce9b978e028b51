# A character-class helper called for every character of a text while tokenising, and
# a word-frequency count that is real work.
import collections


def is_word_char(c):
    return c.isalnum() or c == "_"


def frequencies(words, rounds):
    counts = collections.Counter()
    for _ in range(rounds):
        for w in words:
            counts[w.lower()] += 1
    return counts.most_common(3)


TEXT = "The quick brown fox_1 jumps over the lazy dog; the DOG sleeps. " * 60

if __name__ == "__main__":
    words, current = [], []
    for c in TEXT:
        if is_word_char(c):
            current.append(c)
        elif current:
            words.append("".join(current))
            current = []
    print(len(words))
    print(frequencies(words, 4500))
