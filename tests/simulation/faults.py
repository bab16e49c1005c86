"""The faults a simulation injects, and the seeded generator that schedules them."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tests.support.capture import Reply

START = datetime(2026, 1, 5, 0, 0, 17, tzinfo=UTC)
"""When every simulation begins: a Monday, a few seconds past a slot."""

CLIENT_TIMEOUT = 0.1
"""The posthog client's timeout in the simulation, in real seconds: a timeout costs this much."""

# What PostHog (or whatever answers at posthog.host) does during a stretch.
POSTHOG_ANSWERS: dict[str, Reply] = {
    "slow": Reply.slow(0.02, 200),
    "400": Reply.error(400, "Invalid event"),
    "401": Reply.error(401, "Invalid API key."),
    "404": Reply.error(404, "Not found"),
    "429": Reply.error(429, "Rate limited"),
    "500": Reply.error(500),
    "503": Reply.error(503),
    "timeout": Reply.slow(CLIENT_TIMEOUT + 0.1, 503),
    "refused": Reply.hang_up(),
}
# Stretches that cost real seconds per attempt, or set events aside, are kept short.
LONGEST = {"posthog:400": 1_800, "posthog:timeout": 7_200, "posthog:slow": 7_200}

STRETCHES = (
    *(f"posthog:{answer}" for answer in POSTHOG_ANSWERS),
    "orchestrator-down",
    "state-down",
)
KILL_STEPS = ("before-record", "before-send", "after-send")
INSTANTS = (*(f"kill:{step}" for step in KILL_STEPS), "restart", "clock", "ucid-change")


@dataclass(frozen=True, order=True)
class Fault:
    """One fault: a stretch from `start` to `end`, or an instant (`end` == `start`)."""

    start: datetime
    end: datetime
    kind: str
    replica: int = 0
    minutes: int = 0  # a clock correction's size, signed

    def active(self, now: datetime) -> bool:
        """Whether this stretch covers `now`."""
        return self.start <= now < self.end

    def describe(self) -> str:
        """One line: what, to whom, when, for how long."""
        offset = self.start - START
        what = f"{self.kind}({self.minutes:+d} min)" if self.kind == "clock" else self.kind
        length = f" for {self.end - self.start}" if self.end > self.start else ""
        return f"{what} on replica {self.replica} at +{offset}{length}"


def generate(seed: int, weeks: int, replicas: int) -> list[Fault]:
    """A fault schedule over `weeks`, the same for the same arguments."""
    rng = random.Random(seed)
    horizon = timedelta(weeks=weeks)
    faults: list[Fault] = []
    for _ in range(rng.randint(2 * weeks, 5 * weeks)):
        kind = rng.choice(STRETCHES)
        start = START + horizon * rng.random()
        if rng.random() < 0.5:
            # Just before a tick, where it bites: the jobs fire at 00:00 and 12:00 (world.py).
            day = START.replace(hour=0, minute=0, second=0) + timedelta(
                days=rng.randrange(7 * weeks)
            )
            start = day + timedelta(hours=rng.choice((0, 12)), minutes=-rng.randint(0, 10))
        # Log-uniform from a minute to three days.
        longest = LONGEST.get(kind, 3 * 86_400)
        seconds = math.exp(rng.uniform(math.log(60), math.log(longest)))
        faults.append(Fault(start, min(start + timedelta(seconds=seconds), START + horizon), kind))
    for _ in range(rng.randint(weeks, 4 * weeks)):
        kind = rng.choice(INSTANTS)
        if kind == "ucid-change" and rng.random() < 0.7:
            kind = "restart"  # a new identity is rare
        start = START + horizon * rng.random()
        minutes = rng.choice((-1, 1)) * rng.randint(1, 30) if kind == "clock" else 0
        faults.append(Fault(start, start, kind, rng.randrange(replicas), minutes))
    return sorted(faults)
