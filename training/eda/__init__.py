"""Stage 1, exploratory data analysis: the Profile job's HTML data report and drift baseline."""
