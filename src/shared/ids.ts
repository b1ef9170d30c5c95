import { uuidv7 } from 'uuidv7';

/** Opaque, time-ordered ids (UUIDv7): index-friendly and sortable by creation. */
export const newId = (): string => uuidv7();

/** ISO-8601 UTC with milliseconds: the one timestamp format stored and returned. */
export const nowIso = (): string => new Date().toISOString();
