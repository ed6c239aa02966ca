"""The local backend: this machine as a single agent."""
