"""Checks for notebook 07_online_rl: one function per exercise, registered under its id."""
