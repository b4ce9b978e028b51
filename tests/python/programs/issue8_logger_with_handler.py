import logging, sys
logger = logging.getLogger("app")
handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
logger.addHandler(handler)
logger.setLevel(logging.INFO)
def work(log, n):
    log.info("working on %d", n)
    return n * 2
print(work(logger, 21))
