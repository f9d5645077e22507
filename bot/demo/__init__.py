"""`compass-bot demo`: a whole COMPASS program offline, with synthetic physicians and simulated time.
It sits above the product code it exercises and is the only product room that may import the stand-in.

``run`` wires it together. ``people`` invents the cohort and ``behaviour`` decides how they answer;
``harness`` runs the Slack stand-in and the bot in this process, ``driver`` sends people's actions
to the bot as Slack would, ``forms`` fills in the bot's modals and ``inbox`` reads what Slack
received; ``simulation`` runs the weeks; ``transcript``, ``progress`` and ``output`` report them.
"""
