// The one error catalogue (DESIGN habit 5, API.md §1): every code the service can answer,
// with its HTTP status. Business rules return or throw these; anything else is a bug and
// becomes 500 INTERNAL with no detail.

export const ERROR_CATALOGUE = {
  // 400 functional errors: the exact spellings, mixed case included, are part of the contract.
  InvalidParameter: { status: 400, message: 'A parameter is missing or invalid.' },
  INVALID_STATUS: { status: 400, message: 'The action is not allowed in the current status.' },
  INVOICE_CLOSED: { status: 400, message: 'The invoice is closed.' },
  INVOICE_NOT_FOUND: { status: 400, message: 'The invoice does not exist on this order.' },
  LIMIT_REACHED: { status: 400, message: 'The amount exceeds what is available.' },
  MethodNotFound: { status: 400, message: 'The payment method does not exist or is hidden.' },
  ORDER_CANCELED: { status: 400, message: 'The order is canceled.' },
  ORDER_CLOSED: { status: 400, message: 'The order is closed.' },
  ORDER_NOT_FOUND: { status: 400, message: 'The order does not exist.' },
  ORDER_NOT_SETTLED: { status: 400, message: 'The order is not settled.' },
  DUPLICATE_TRANSACTION_REF: { status: 400, message: 'The transactionRef is already used.' },
  DUPLICATE_EXTERNAL_REF: { status: 400, message: 'The externalRef is already used.' },
  TYPE_NOT_SUPPORTED: { status: 400, message: 'The type is not supported.' },
  REF_INVOICE_NOT_FOUND: { status: 400, message: 'The referenced invoice does not exist.' },
  NON_STANDARD_REF_INVOICE: { status: 400, message: 'The referenced invoice is not standard.' },
  REF_INVOICE_STILL_OPEN: { status: 400, message: 'The referenced invoice is still open.' },
  // Transport and access.
  UNAUTHORIZED: { status: 401, message: 'A valid api-key header is required.' },
  FORBIDDEN: { status: 403, message: 'This api key may not perform this action.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed.' },
  IDEMPOTENCY_IN_PROGRESS: {
    status: 409,
    message: 'A request with this Idempotency-Key is still running.',
  },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Request bodies must be application/json.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request line or headers are too large.' },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    message: 'This Idempotency-Key was used for a different request.',
  },
  RATE_LIMITED: { status: 429, message: 'Too many requests.' },
  INTERNAL: { status: 500, message: 'An unexpected error occurred.' },
  SERVICE_UNAVAILABLE: {
    status: 503,
    message: 'The database is unavailable. Retry later.',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export type ErrorDetails = Record<string, unknown>;

/** An expected failure with a contract code. Carries no internal text. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, details?: ErrorDetails, message?: string) {
    super(message ?? ERROR_CATALOGUE[code].message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = details;
  }
}

export function invalidParameter(field: string, reason: string, extra?: ErrorDetails): AppError {
  return new AppError(
    'InvalidParameter',
    { field, reason, ...extra },
    `Invalid ${field}: ${reason}.`,
  );
}

/** An expected rule failure as a value (pure rule modules return these; services throw). */
export interface RuleFailure {
  code: ErrorCode;
  details?: ErrorDetails;
}

export function failureToError(failure: RuleFailure): AppError {
  if (failure.code === 'InvalidParameter') {
    const { field, reason, ...extra } = failure.details ?? {};
    return invalidParameter(String(field), String(reason), extra);
  }
  return new AppError(failure.code, failure.details);
}

export function throwIfFailed(failure: RuleFailure | null): void {
  if (failure !== null) throw failureToError(failure);
}
