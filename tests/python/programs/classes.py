class Account:
    rate = 0.5

    def __init__(self, owner, balance=0):
        self.owner = owner
        self.balance = balance
        self.history = []

    def deposit(self, amount):
        self.balance += amount
        self.history.append(amount)
        return self

    def withdraw(self, amount):
        self.attempts = getattr(self, "attempts", 0) + 1
        if amount > self.balance:
            raise ValueError("insufficient funds: %s < %s" % (self.balance, amount))
        self.balance -= amount
        self.history.append(-amount)

    @property
    def total(self):
        return self.balance * (1 + self.rate)

    @total.setter
    def total(self, value):
        self.balance = value / (1 + self.rate)

    @classmethod
    def empty(cls, owner):
        return cls(owner)

    @staticmethod
    def parse(text):
        owner, balance = text.split(":")
        return Account(owner, int(balance))

    def __len__(self):
        return len(self.history)

    def __eq__(self, other):
        return isinstance(other, Account) and self.balance == other.balance

    def __str__(self):
        return "Account of %s" % self.owner

    def __repr__(self):
        return "Account(%r, %r)" % (self.owner, self.balance)

    def __iter__(self):
        return iter(self.history)

    def __add__(self, other):
        return Account(self.owner + "+" + other.owner, self.balance + other.balance)


class Savings(Account):
    def __init__(self, owner, balance=0, bonus=1):
        super().__init__(owner, balance)
        self.bonus = bonus

    def deposit(self, amount):
        return super().deposit(amount + self.bonus)

    def describe(self):
        return "%s saves %s with bonus %s" % (self.owner, self.balance, self.bonus)


def audit(acct):
    return "%s: %s has %s (%s)" % (type(acct).__name__, acct.owner, acct.balance, isinstance(acct, Account))


def open_account(owner):
    return Savings(owner, 100, bonus=5)


a = Account("ann", 10)
history = a.history
b = a.deposit(5)
print(b is a, a.balance, history, history is a.history, len(a))
print(a.total)
a.total = 30
print(a.balance, a.total)
e = Account.empty("eve")
print(e, repr(e), type(e).__name__, isinstance(e, Account))
p = Account.parse("pat:20")
print(repr(p), p == Account("x", 20), p == a, a != p)
print(list(a), [x * 2 for x in a], sorted(a))
c = a + p
print(repr(c), isinstance(c, Account), type(c) is Account)
try:
    p.withdraw(1000)
except ValueError as exc:
    print("refused:", exc, p.balance, p.attempts)
p.withdraw(5)
print(repr(p), len(p), list(p))
s = Savings("sam", 1)
s.deposit(2).deposit(3)
print(repr(s), s.describe(), isinstance(s, Account), isinstance(s, Savings), s.bonus, len(s))
print(audit(a))
print(audit(s))
o = open_account("olga")
print(repr(o), type(o).__name__, isinstance(o, Savings), o.describe())
print(str(a), "%s" % s, f"{p}")
print(Account.rate, a.rate, sorted(vars(a)))
