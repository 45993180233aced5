"""Create, append and read back through a real standalone server."""

from tests.http import Api


def test_append_and_read_back(api: Api) -> None:
    api.create("demo", ["x", "y"], max_size=2)

    reply = api.append("demo", [{"x": 1, "y": 2}, {"x": 3, "y": 4}, {"x": 5, "y": 6}])

    assert reply.json == {"rows_appended": 3, "current_size": 2, "rows_dropped": 1}
    assert api.data("demo").json["data"] == [{"x": 3.0, "y": 4.0}, {"x": 5.0, "y": 6.0}]
