"""``make demo``: the connector end to end against the local Graph API sandbox (:mod:`demo.run`).

Not part of the connector's package; run it from the repository root with ``python -m demo``.
"""
