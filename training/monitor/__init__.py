"""Stage 6, monitoring: the Drift job compares captured traffic with the training baseline."""
