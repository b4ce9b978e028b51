def step(points, pairs):
    for p, q in pairs: p[1] += 1
    for p in points: p[0] += p[1] + 1
points = [[0, 0], [10, 0]]; pairs = [(points[0], points[1])]
step(points, pairs); print(points)
