"""What the app asks Slack for. `slack-manifest.yml` at the repository root must agree (tested)."""

BOT_SCOPES = (
    "chat:write",  # post session guides, reminders, DMs
    "commands",  # /compass
    "im:write",  # open DMs for file uploads (my-data, reports)
    "mpim:write",  # group DMs for near-peer pairs
    "groups:write",  # create private group channels and invite members
    "groups:history",  # find a post already delivered before a crash (exactly-once)
    "im:history",  # the same, in DMs
    "mpim:history",  # the same, in pair DMs
    "files:write",  # calendar, my-data and report files
    "users:read",  # time zone and name for the join form
)
COMMAND = "/compass"
EVENTS = ("app_home_opened",)
