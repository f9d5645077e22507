"""Events API retries (``X-Slack-Retry-Num``) never produce a second effect: deduplicated on ``event_id``.

tests/test_enrolment_flow.py checks a retry sent after the first delivery; here the first
delivery and three retries arrive at the same moment (Slack retries after 3 s without an
answer, so a slow first answer and its retry overlap), and a second, different event for the
same person shows that an event does have its effect, so that a missing second effect means
something. Two web processes sharing one PostgreSQL database are in tests/test_fault_processes.py.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tests.support.waiting import eventually

ANA = "U0ANA"


def publishes(standin, user_id: str) -> int:  # noqa: ANN001
    return sum(1 for call in standin.calls_to("views.publish") if call.args.get("user_id") == user_id)


def test_an_event_and_its_simultaneous_retries_publish_the_home_tab_once(slack, standin):
    event = {"type": "app_home_opened", "user": ANA, "tab": "home", "channel": "D0ANA"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda n: slack.event(event, event_id="Ev0SAME", retry_num=n or None), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    eventually(lambda: publishes(standin, ANA) >= 1)
    # The same person opening the Home tab again is a new event: it has its effect.
    assert slack.event(event, event_id="Ev0AGAIN").status_code == 200
    eventually(lambda: publishes(standin, ANA) >= 2)
    assert slack.event(event, event_id="Ev0AGAIN", retry_num=1).status_code == 200
    time.sleep(0.5)  # room for a second effect of any of them to show up
    assert publishes(standin, ANA) == 2
