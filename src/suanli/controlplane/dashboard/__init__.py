"""The operators' dashboard: login with an API key, a session cookie, HTML/JS served by the control plane."""
