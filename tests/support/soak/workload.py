"""The soak's load: a steady, mixed stream of submissions through the HTTP API.

Each submission has a share id of its own; a client that gets no answer (the API was
killed, the database cut) or a 5xx retries the same request a few times, as clients
do, so a submission committed just before the API died comes back as the same job
(the idempotency key), never as a second one. Every 2xx is recorded with its job ids:
those are what the account must find finished.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

import httpx

from support.soak.stack import Stack

#: (task, weight): mostly cheap text jobs, a few spoken clips to keep Whisper busy.
MIX = (("summarize", 0.47), ("embed", 0.47), ("transcribe", 0.03), ("enrich", 0.03))
SENTENCES = (
    "Copenhagen built protected bike lanes on every arterial road over two decades.",
    "The city counts more bicycles than cars crossing its centre each morning.",
    "A transactional outbox writes the job and its message in one commit.",
    "The relay publishes committed rows with publisher confirms and marks them sent.",
    "Workers acknowledge a message only after the job's result is stored.",
    "Quorum queues keep a message on a majority of nodes before confirming it.",
    "Whisper turns short spoken clips into text with timestamps for each segment.",
    "Embeddings of overlapping chunks let a search land in the middle of a transcript.",
    "A lease on a running job lets another worker take over when the first one dies.",
    "Budgets reserve an estimate before a paid call and settle the real cost after it.",
)
ATTEMPTS = 6  # 1+2+3+4+5 s apart: long enough for `up` to restart a killed API
#: A slot this late (its client was retrying through an outage) is skipped; later ones
#: are sent at once, as clients holding requests do when the API comes back.
CATCH_UP_S = 30.0


@dataclass(frozen=True, slots=True)
class Submission:
    """One accepted submission: when (epoch s), its share, its task and its job ids."""

    at: float
    share_id: str
    task: str
    job_ids: tuple[str, ...]


class Workload:
    """Submits at ``rate`` per second from ``threads`` clients until stopped."""

    def __init__(self, stack: Stack, *, rate: float, seed: int, threads: int = 6) -> None:
        self._stack, self._rate, self._threads = stack, rate, threads
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._slot = 0
        self._start = 0.0
        self.accepted: list[Submission] = []
        self.refused: Counter[str] = Counter()  # final outcome of submissions not accepted
        self.retries = 0
        self.skipped = 0

    def run(self, stop: threading.Event) -> None:
        self._start = time.monotonic()
        clients = [
            threading.Thread(target=self._client, args=(stop,)) for _ in range(self._threads)
        ]
        for t in clients:
            t.start()
        for t in clients:
            t.join()

    def _next(self) -> tuple[int, float, str, dict[str, str]] | None:
        with self._lock:
            n = self._slot
            self._slot += 1
            task = self._rng.choices([t for t, _ in MIX], [w for _, w in MIX])[0]
            if task in ("transcribe", "enrich"):
                clip = self._rng.choice(self._stack.clips)
                body = {"media_url": f"http://{self._stack.media}/{clip}"}
            else:
                body = {"text": " ".join(self._rng.sample(SENTENCES, self._rng.randint(2, 5)))}
        due = self._start + n / self._rate
        return n, due, task, body

    def _client(self, stop: threading.Event) -> None:
        headers = {"Authorization": f"Bearer {self._stack.key}"}
        with httpx.Client(base_url=self._stack.base, headers=headers, timeout=15) as client:
            while not stop.is_set():
                slot = self._next()
                if slot is None:
                    return
                n, due, task, body = slot
                late = time.monotonic() - due
                if late > CATCH_UP_S:
                    with self._lock:
                        self.skipped += 1
                    continue
                if late < 0 and stop.wait(-late):
                    return
                self._submit(client, {"share_id": f"soak-{n}", "task": task, "input": body})

    def _submit(self, client: httpx.Client, request: dict[str, object]) -> None:
        outcome = "no_answer"
        for attempt in range(ATTEMPTS):
            if attempt:
                with self._lock:
                    self.retries += 1
                time.sleep(1.0 * attempt)
            try:
                response = client.post("/api/ml/jobs", json=request)
            except httpx.TransportError:
                outcome = "no_answer"
                continue
            if response.is_success:
                ids = tuple(str(j["id"]) for j in response.json()["jobs"])
                sub = Submission(time.time(), str(request["share_id"]), str(request["task"]), ids)
                with self._lock:
                    self.accepted.append(sub)
                return
            outcome = f"http_{response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break  # a 4xx is the answer; retrying would not change it
        with self._lock:
            self.refused[outcome] += 1
