"""The client-side limiter keeps every call inside Slack's published budgets."""

from __future__ import annotations

import pytest

from bot.slack.rate_limits import HEADROOM, SlackRateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def limiter(fake: FakeTime, **kwargs) -> SlackRateLimiter:  # noqa: ANN003
    return SlackRateLimiter(clock=fake.clock, sleep=fake.sleep, **kwargs)


def test_posts_to_one_channel_go_out_once_a_second():
    fake = FakeTime()
    slack = limiter(fake)
    for _ in range(5):
        slack.acquire("chat.postMessage", workspace="xoxb-1", channel="C1")
    assert fake.now == pytest.approx(4.0 / HEADROOM)


def test_posts_to_many_channels_share_the_workspace_budget():
    fake = FakeTime()
    slack = limiter(fake, posts_per_minute=300)
    for n in range(400):
        slack.acquire("chat.postMessage", workspace="xoxb-1", channel=f"C{n}")
    # 299 at once (the limiter stays one token behind Slack's 300), then 5 a second
    assert fake.now == pytest.approx(101 / 5, rel=1e-6)


def test_tiered_methods_follow_their_tier():
    fake = FakeTime()
    slack = limiter(fake)
    for _ in range(25):
        slack.acquire("conversations.create", workspace="xoxb-1")  # Tier 2: 20 a minute
    assert fake.now == pytest.approx(6 * 3.0)  # a burst of 19 (one token kept behind Slack's 20), then one in 3 s
    before = fake.now
    for _ in range(99):
        slack.acquire("views.publish", workspace="xoxb-1")  # Tier 4: a burst of 100, less the margin, is fine
    assert fake.now == before


def test_workspaces_have_separate_budgets_and_unknown_methods_are_not_held():
    fake = FakeTime()
    slack = limiter(fake)
    for workspace in ("xoxb-1", "xoxb-2"):
        for _ in range(19):
            slack.acquire("conversations.create", workspace=workspace)
    slack.acquire("apps.mystery", workspace="xoxb-1")
    assert fake.now == 0.0


def test_scale_multiplies_every_budget():
    fake = FakeTime()
    slack = limiter(fake, scale=10)
    for _ in range(11):
        slack.acquire("chat.postMessage", workspace="xoxb-1", channel="C1")
    assert fake.now == pytest.approx(0.2)  # a burst of 10 less the margin, then 10 a second


def test_budgets_must_be_positive():
    with pytest.raises(ValueError):
        SlackRateLimiter(posts_per_minute=0)


def test_the_limiter_stays_one_token_behind_slack_and_then_keeps_its_full_rate():
    fake = FakeTime()
    slack = limiter(fake, posts_per_minute=300)
    for n in range(299):
        slack.acquire("chat.postMessage", workspace="xoxb-1", channel=f"C{n}")
    assert fake.now == 0.0
    slack.acquire("chat.postMessage", workspace="xoxb-1", channel="C299")
    assert fake.now == pytest.approx(0.2)  # Slack's 300th token is left for a call that arrives out of order
    with pytest.raises(ValueError):
        SlackRateLimiter(margin=-1)


def test_headroom_one_spends_exactly_slacks_budget():
    fake = FakeTime()
    slack = limiter(fake, headroom=1.0)
    for _ in range(5):
        slack.acquire("chat.postMessage", workspace="xoxb-1", channel="C1")
    assert fake.now == pytest.approx(4.0)
    with pytest.raises(ValueError):
        SlackRateLimiter(headroom=1.5)
