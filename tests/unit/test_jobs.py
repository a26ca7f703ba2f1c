"""The Job API's pure parts: page ranges, option checking and the status a job record reads as."""

from __future__ import annotations

import pytest

from layout.decode import InputError
from serve.backends.base import RecognitionCapabilities
from serve.config import ServiceConfig
from serve.jobs.service import job_status
from serve.jobs.submission import JobRequestError, check_options, page_indices


@pytest.mark.parametrize(("ranges", "expected"), [
    ("1", [0]), ("2,4-6", [1, 3, 4, 5]), (" 3 - 4 , 1 ", [2, 3, 0]), ("2-3,3-4", [1, 2, 3]),
])
def test_page_ranges_are_one_based_inclusive_and_each_page_once(ranges, expected):
    assert page_indices(ranges, num_pages=10) == expected


@pytest.mark.parametrize("ranges", ["", "0", "3-1", "a", "1-", "1,,2"])
def test_a_malformed_page_range_is_refused(ranges):
    with pytest.raises(JobRequestError):
        page_indices(ranges, num_pages=None)


def test_a_range_past_the_document_is_an_input_error_of_the_job():
    with pytest.raises(InputError, match="11"):
        page_indices("9-11", num_pages=10)


def test_options_are_checked_as_layout_parsing_checks_its_fields():
    config = ServiceConfig()
    assert check_options({"visualize": False, "restructurePages": True}, config, RecognitionCapabilities()).restructure
    with pytest.raises(JobRequestError, match="topP"):
        check_options({"topP": 2}, config, RecognitionCapabilities())
    with pytest.raises(JobRequestError, match="unwarping"):
        check_options({"useDocUnwarping": True}, config, RecognitionCapabilities())


def test_a_record_reads_as_the_status_the_official_client_parses():
    pending = job_status("j", {"state": "pending", "totalPages": "0", "extractedPages": "0"})
    assert pending.model_dump(exclude_unset=True) == {
        "jobId": "j", "state": "pending", "extractProgress": {"totalPages": 0, "extractedPages": 0,
                                                              "startTime": None, "endTime": None},
    }
    done = job_status("j", {"state": "done", "totalPages": "3", "extractedPages": "3", "startTime": "t0",
                            "endTime": "t1", "jsonUrl": "http://x/result.jsonl"})
    assert done.resultUrl.jsonUrl == "http://x/result.jsonl" and done.extractProgress.extractedPages == 3
    failed = job_status("j", {"state": "failed", "errorMsg": "Invalid input file"})
    assert failed.errorMsg == "Invalid input file" and failed.resultUrl is None
