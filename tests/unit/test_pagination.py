"""The paginators on their own (connectors.pagination), and their old names in the client modules."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors import pagination
from connectors.pagination import AfterCursor, ScrollCursor, StartingAfterCursor, XeroPages, parse_xero_date


def test_old_names_stay_importable_from_the_clients():
    from connectors.hubspot import client as hubspot
    from connectors.intercom import client as intercom
    from connectors.xero import client as xero

    assert hubspot.AfterCursor is AfterCursor and xero.XeroPages is XeroPages
    assert xero.format_modified_since is pagination.format_modified_since
    assert intercom.StartingAfterCursor is StartingAfterCursor and intercom.ScrollCursor is ScrollCursor


def test_after_cursor_params_and_done():
    cursor = AfterCursor()
    assert cursor.params() == {} and not cursor.done
    assert cursor.advance({"paging": {"next": {"after": "3"}}}) and cursor.params() == {"after": "3"}
    assert not cursor.advance({"results": []}) and cursor.done and cursor.pages == 2


def test_xero_pages_send_page_size_and_keep_the_newest_change():
    pages = XeroPages(page_size=3, modified_since=datetime(2024, 5, 1, tzinfo=UTC))
    assert pages.params() == {"page": 1, "pageSize": 3}
    assert pages.headers() == {"If-Modified-Since": "2024-05-01T00:00:00.000Z"}
    pages.advance([{"UpdatedDateUTC": "/Date(1717113600000+0000)/"}, {"UpdatedDateUTC": "/Date(1717000000000+0000)/"},
                   {"UpdatedDateUTC": "garbage"}], None)
    assert not pages.done and pages.page == 2
    pages.advance([{"UpdatedDateUTC": "2024-05-30T00:00:00"}], None)  # short page: the last
    assert pages.done and pages.latest_modified == datetime(2024, 5, 31, tzinfo=UTC)
    assert XeroPages().params() == {"page": 1}  # the default size is Xero's: not sent
    assert parse_xero_date("/Date(0+0000)/") == datetime(1970, 1, 1, tzinfo=UTC) and parse_xero_date(None) is None


def test_scroll_cursor_follows_scroll_param_until_an_empty_page():
    cursor = ScrollCursor()
    assert cursor.params() == {}
    cursor.advance({"type": "list", "data": [{"id": "1"}], "scroll_param": "abc"})
    assert not cursor.done and cursor.params() == {"scroll_param": "abc"}
    cursor.advance({"type": "list", "data": [], "scroll_param": "abc"})
    assert cursor.done and cursor.pages == 2
    lost = ScrollCursor()
    lost.advance({"data": [{"id": "1"}]})  # no scroll_param to go on with
    assert lost.done
