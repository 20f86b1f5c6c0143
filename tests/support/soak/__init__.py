"""The chaos soak (issue 11): ``up`` on real services under a steady mixed load while a
seeded driver injects faults, then a Jepsen-style account of what was accepted.

``stack`` starts what it may break, ``workload`` drives the HTTP API, ``faults`` injects,
``account`` counts from the database and the API, ``runner`` ties them together and
``report`` prints the table. Used by ``bench/soak.py`` and ``tests/integration/e2e/
test_soak.py``.
"""
