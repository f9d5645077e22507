"""The running process: settings, services (engine, Slack clients, catalogue), delivery exactly once,
the clock, the Bolt app assembled from the flows, start-up. Settings, services and delivery sit below
the flows; the app, the clock, start-up and report warm-up sit above them (pyproject's contract)."""
