"""Code that SageMaker jobs run, and that runs locally: one package per lifecycle stage.

    data/      stage 2 and the table handling the others build on: schema, checks, alerts,
               features, the Preprocess job
    eda/       stage 1: the Profile job (data report and drift baseline)
    train/     stage 3: the Train job, metrics, the model folder
    evaluate/  stage 4: the Evaluate job (model vs trivial baseline vs champion)
    serve/     stage 5: the serving handler
    monitor/   stage 6: the Drift job

At the root, what the stages share: `contract` (every shared name), `bootstrap` (every job's
entry point), `baseline` and `capture` (the Model Monitor baseline and data-capture formats),
`lineage` (the fingerprint of a model's training data), `jsonio`, `archives`, `cluster`,
`plots`. A stage imports the root and earlier stages only
(import-linter contract in pyproject.toml).

Only what the SageMaker scikit-learn image ships may be imported here, plus the pinned extras
of `requirements.txt` (matplotlib, optional: see `training.plots`). `training.contract` and
`training.baseline`'s reader import the standard library only, so the pipeline builder can
import them cheaply.
"""
