"""Stage 4, review: the Evaluate job scores the model, a trivial baseline and the champion."""
