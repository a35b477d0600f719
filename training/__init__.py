"""Code that SageMaker jobs run, and that runs locally: profile, preprocess, train, evaluate, serve.

Only scikit-learn, pandas, numpy, matplotlib and joblib may be imported here: that is what the
SageMaker scikit-learn container ships. `training.metrics` imports the standard library only,
so the pipeline builder can import it cheaply.
"""
