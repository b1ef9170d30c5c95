// The console's only way to the service: same-origin fetches to /v1/om with the signed-in
// key in headers (never in a URL or cookie). Every write sends a fresh Idempotency-Key
// (API.md §5), so a retried click can never record a payment twice.
const SESSION = 'om-console-session';

export function loadSession() {
  try {
    const value = JSON.parse(sessionStorage.getItem(SESSION) ?? 'null');
    return value && typeof value.apiKey === 'string' && typeof value.organizationId === 'string'
      ? value
      : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(SESSION, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION);
}

export class ApiError extends Error {
  constructor(status, code, details, requestId) {
    super(code);
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }
}

function idempotencyKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** One call: `{data, warnings}` of the envelope, or an ApiError with the API's code. */
export async function api(session, method, path, { query, params } = {}) {
  const url = new URL(`/v1/om${path}`, location.origin);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value);
  }
  const headers = { 'api-key': session.apiKey, 'organization-id': session.organizationId };
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (method !== 'GET') {
    headers['idempotency-key'] = idempotencyKey();
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(params === undefined ? {} : { params });
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, 'NETWORK');
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // a body that is not JSON: the status alone tells what happened
  }
  if (!response.ok) {
    const error = body?.error;
    throw new ApiError(
      response.status,
      error?.code ?? (response.status === 404 ? 'NOT_FOUND' : `HTTP_${response.status}`),
      error?.details,
      body?.requestId,
    );
  }
  return { data: body?.data, warnings: body?.warnings ?? [] };
}
