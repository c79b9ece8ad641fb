// The REST API with one token, kept in this object only (never in a URL, a cookie or storage).

export class ApiError extends Error {
  constructor(status, body) {
    const message = body && typeof body.message === "string" ? body.message : `HTTP ${status}`;
    super(message);
    this.status = status;
    this.code = body && typeof body.error_code === "string" ? body.error_code : `HTTP_${status}`;
    this.details = body && body.details && typeof body.details === "object" ? body.details : {};
    this.requestId = body && typeof body.request_id === "string" ? body.request_id : null;
  }
}

// One line a person can read: "UNAUTHORIZED: Token is malformed (malformed)".
export function describe(error) {
  if (error instanceof ApiError) {
    const reason = typeof error.details.reason === "string" ? ` (${error.details.reason})` : "";
    const id = error.requestId ? ` [${error.requestId}]` : "";
    return `${error.code}: ${error.message}${reason}${id}`;
  }
  return error && error.message ? error.message : String(error);
}

const MAX_PAGES = 20;

export class Api {
  #token;

  constructor(token) {
    this.#token = token;
  }

  async request(method, path, body) {
    const init = {
      method,
      headers: { Authorization: `Bearer ${this.#token}`, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(`/v1${path}`, init);
    } catch {
      throw new ApiError(0, { error_code: "NETWORK", message: "The server could not be reached" });
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // Every item of a paged list (`next_cursor`), up to MAX_PAGES pages of 200.
  async all(path, key) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const query = new URLSearchParams({ limit: "200" });
      if (cursor) query.set("cursor", cursor);
      const separator = path.includes("?") ? "&" : "?";
      const data = await this.request("GET", `${path}${separator}${query}`);
      items.push(...data[key]);
      cursor = data.next_cursor;
      if (!cursor) break;
    }
    return items;
  }
}

export function devicePath(deviceId, rest = "") {
  return `/devices/${encodeURIComponent(deviceId)}${rest}`;
}
