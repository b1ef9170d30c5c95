// The success envelope of API.md §1: all six fields, always.
import { newId } from '../shared/ids.ts';
import type { Warning } from '../shared/warnings.ts';

export const APP_NAME = 'om-payments';
export const SERVICE_NAME = 'om';

/** Stable id of this serving process: differs between instances behind a balancer. */
export const INSTANCE_ID = newId();

export interface Envelope<T> {
  app: string;
  service: string;
  warnings: Warning[];
  instanceId: string;
  requestId: string;
  data: T;
}

export function ok<T>(requestId: string, data: T, warnings: Warning[] = []): Envelope<T> {
  return {
    app: APP_NAME,
    service: SERVICE_NAME,
    warnings,
    instanceId: INSTANCE_ID,
    requestId,
    data,
  };
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's x-request-id when it is a sane token, else a new id. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : newId();
}
