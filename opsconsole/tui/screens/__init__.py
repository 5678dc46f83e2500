"""Console screens: main (panes), trace, replay, confirm, help."""
