"""Test machinery shared by the test suites, kept out of the product package.

Importable as ``support.<module>`` because pytest's ``pythonpath = ["tests"]`` setting
(pyproject.toml) puts ``tests/`` on ``sys.path``; worker subprocesses get the same
directory on their ``PYTHONPATH`` from :mod:`support.harness`.

- ``openai_stub``: a loopback server speaking a subset of the OpenAI HTTP API.
- ``harness``, ``handlers``: real worker and relay subprocesses, and their test handlers.
- ``transcription``: loopback media servers, known sentences, a concurrency sampler.
- ``api``: API keys and embedders for the API tests.
- ``ml``, ``corpus``: the chat/embeddings stub and a corpus with known topics.
- ``rabbit_nodes``: private RabbitMQ nodes, HAProxy and certificates.
- ``runtime``: job runtimes built the way a worker builds them, or around a test handler.
"""
