class Cell: pass
class Board: pass
def count_cells(board):
    return "%d cells, first belongs to board: %s" % (len(board.cells), board.cells[0].board is board)
board = Board(); board.cells = []
for i in range(3):
    c = Cell(); c.board = board; board.cells.append(c)
print(count_cells(board))
