"""Everything that speaks Slack below the flows: the Web API client and its rate limiter, the HTTP
endpoint, response_url answers, Block Kit building and rendering, the manifest's scopes.
May import the domain; never the flows, the runtime or storage (pyproject's import contract)."""
