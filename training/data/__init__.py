"""Stage 2, data preparation, and the table handling every other stage builds on: reading and
checking a table, its schema, the EDA alerts, the feature plan and the Preprocess job."""
