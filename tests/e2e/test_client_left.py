"""A client that hangs up in the middle of its request body is an INFO line, not an error."""

from __future__ import annotations

from tests.support.gateway import RunningGateway, wait_until
from tests.support.sockets import connect, request_head, wait_closed

LEFT = "the client left before sending its whole request body"


def test_a_client_leaving_mid_body_is_an_info_line(offline_gateway: RunningGateway) -> None:
    bodies = [
        (
            "/v1/images/edits",
            "multipart/form-data; boundary=xyz",
            b'--xyz\r\ncontent-disposition: form-data; name="image"; filename="a.png"\r\n\r\n\x89PNG',
        ),
        ("/v1/images/generations", "application/json", b'{"prompt": "a f'),
    ]
    for path, content_type, start in bodies:
        with connect(offline_gateway) as client:
            head = request_head("POST", path, content_type=content_type, content_length="1000000")
            client.sendall(head + start)
            assert wait_closed(client, 0.3) is None  # the gateway waits for the rest
    wait_until(lambda: offline_gateway.log().count(LEFT) == 2, what="two INFO lines")
    log = offline_gateway.log()
    assert "INFO app.api.exception_handlers [req_" in log
    assert "Traceback" not in log and " ERROR " not in log
    assert "POST /v1/images/edits 499" in log and "POST /v1/images/generations 499" in log
