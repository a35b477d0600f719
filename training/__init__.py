"""Code that SageMaker jobs run, and that runs locally: profile, preprocess, train, evaluate, serve.

Only what the SageMaker scikit-learn image ships may be imported here (scikit-learn, pandas,
numpy, joblib); matplotlib is optional (see `training.plots`). `training.contract` and
`training.baseline`'s reader import the standard library only, so the pipeline builder and the
drift checks can import them cheaply.

Modules: contract (shared names), jsonio, cluster, data (CSV folders, types, schema), scoring,
model_files, plots, baseline (Model Monitor statistics/constraints); the jobs profile,
preprocess, train, evaluate; and inference (the serving entry points).
"""
