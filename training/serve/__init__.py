"""Stage 5, serving: the handler the SageMaker scikit-learn serving container loads."""
