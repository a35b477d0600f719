"""Stage 6, monitoring: the Drift job compares captured traffic with the training baseline.

    drift       the job: arguments, the window's files, the reports, publishing
    source      the window's hour folders and the baseline, read from S3 by the job itself
    reference   the baseline's statistics.json as the checks read it (dates, skipped columns)
    window      fixed-size counts per feature (numbers, dates, categories), chunk by chunk
    payloads    captured CSV and JSON requests into those counts, read as the endpoint reads them
    metrics     PSI, KS, JS distance, missing rate, schema violations; thresholds by rows
    report      drift_report.json's document and the HTML page
    cloudwatch  the report as CloudWatch metrics (or the local metrics file)
"""
