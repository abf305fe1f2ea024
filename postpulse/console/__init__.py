"""The team console: a web app where people log in, approve actions, answer messages and read
their workspace's report (Starlette + Jinja2, server-rendered, plain forms)."""
