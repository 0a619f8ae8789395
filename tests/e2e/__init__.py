"""Browser tests: the real pages and API handler on the local server, driven by Chromium."""
