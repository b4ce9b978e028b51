"""The edges of the platforms other than AWS Lambda, one module each (``gcf``,
``azure``, ``fission``, ``openwhisk``): the function's side (``respond``: the
platform's request in, the shared handler's answer out) and the caller's side
(``Transport``, which ``transports.transport()`` picks by the manifest's transport
name). What they share over HTTP is in ``http``."""
