"""The asynchronous Job API of the hosted PaddleOCR service, self-hosted (`/api/v2/ocr/jobs`): what the official
`paddleocr` client (`PaddleOCRClient`, `paddleocr api`) submits, polls and downloads. Submissions and progress live
in Redis (`records.py`); any ingress replica runs any job (`runner.py`); files and results go to the result store.
"""
