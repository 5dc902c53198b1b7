"""The web console served at /console (issue 20)."""
