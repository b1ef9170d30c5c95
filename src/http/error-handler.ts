// The one place that turns failures into HTTP answers (API.md §1). A body never carries a
// stack trace, SQL text or an internal message: unknown errors are 500 INTERNAL.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { newId } from '../shared/ids.ts';
import { AppError, ERROR_CATALOGUE, invalidParameter, type ErrorCode } from '../errors.ts';
import { isDatabaseUnavailable } from '../db/unavailable.ts';
import { describeValidationError } from './validation.ts';

/** Fastify's own error codes that a client can cause, mapped to ours. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  // A path segment longer than any id can be: nothing by that id exists.
  FST_ERR_MAX_PARAM_LENGTH: 'NOT_FOUND',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

/** The error envelope of API.md §1. */
export function errorBody(request: FastifyRequest, error: AppError) {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details !== undefined && { details: error.details }),
    },
    requestId: request.id,
  };
}

export function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: AppError,
): FastifyReply {
  const body = errorBody(request, error);
  // Set here too: router errors are answered before the onRequest hook that sets it.
  return reply.code(error.status).header('x-request-id', request.id).send(body);
}

export function toAppError(error: unknown, request: FastifyRequest): AppError {
  if (error instanceof AppError) return error;
  const fe = error as Partial<FastifyError>;
  if (Array.isArray(fe.validation) && fe.validation.length > 0) {
    const { field, reason } = describeValidationError(fe.validation[0]!, fe.validationContext);
    return invalidParameter(field, reason);
  }
  if (fe.code === 'FST_ERR_BAD_URL') return invalidParameter('url', 'malformed URL encoding');
  const mapped = fe.code !== undefined ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped !== undefined) return new AppError(mapped);
  if (isDatabaseUnavailable(error)) {
    request.log.warn({ err: error }, 'database unavailable');
    return new AppError('SERVICE_UNAVAILABLE');
  }
  // Any other client error Fastify raises (malformed JSON, empty JSON body, bad
  // content-length, __proto__ in a body) is a request the client must fix.
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return invalidParameter('request', 'malformed request');
  }
  request.log.error({ err: error }, 'unexpected error');
  return new AppError('INTERNAL');
}

/** Errors the router raises before any handler runs (bad URL encoding, overlong ids). */
export function frameworkErrors(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  void sendError(request, reply, toAppError(error, request));
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (headers or URL too large,
 * malformed request lines, timeouts) still get the error envelope, with a fresh request id.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const appError =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError('HEADERS_TOO_LARGE')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AppError('REQUEST_TIMEOUT')
        : invalidParameter('request', 'malformed HTTP request');
  const requestId = newId();
  const body = JSON.stringify({
    error: {
      code: appError.code,
      message: appError.message,
      ...(appError.details && { details: appError.details }),
    },
    requestId,
  });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${appError.status} ${STATUS_CODES[appError.status] ?? 'Error'}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `x-request-id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/** NUL cannot be stored by PostgreSQL and has no use in any id or filter: refuse it early. */
export function refuseNulInUrl(url: string): void {
  if (url.includes('%00')) throw invalidParameter('url', 'NUL characters are not allowed');
}

export function registerErrorHandling(app: FastifyInstance, retryAfterSeconds: number): void {
  app.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error, request);
    if (appError.code === 'SERVICE_UNAVAILABLE')
      reply.header('retry-after', String(retryAfterSeconds));
    return sendError(request, reply, appError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      request,
      reply,
      new AppError('NOT_FOUND', undefined, ERROR_CATALOGUE.NOT_FOUND.message),
    ),
  );
}
