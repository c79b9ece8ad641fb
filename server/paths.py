"""Where things are served: the REST API under the spec's `/v1` base (§8.1), devices' sockets at `/ws`
(§8.8), the API documents at `/schema`."""

API_PREFIX = "/v1"
DOCS_PATH = "/schema"
