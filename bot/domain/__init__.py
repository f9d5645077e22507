"""The rules of the program, in pure Python: curriculum and rotation, group formation, matching,
scheduling, people and rosters, instruments and scoring, trends, privacy, charts, the .ics content.
Imports no Slack, no database, no web server, no scheduler, no network (pyproject's import contract)."""
