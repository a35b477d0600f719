"""Stage 3, training and tuning: the Train job, the model's metrics and the model folder."""
