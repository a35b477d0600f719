"""Stage 5, serving: the handler the SageMaker scikit-learn serving container loads.

    inference     the handler: model_fn, input_fn, predict_fn, output_fn, data capture
    request_body  a request body as the endpoint reads it (the drift job reads captures so too)
    batch         the batch inference job: files scored chunk by chunk with the handler
"""
