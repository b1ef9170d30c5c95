// Non-fatal facts returned beside `data` (API.md §6.4). One catalogue of codes and texts.
export const WARNINGS = {
  ORDER_FULLY_PAID: 'The order is now fully paid.',
  ORDER_OVERPAID: 'The order is overpaid; the excess is customer credit.',
  ALREADY_COMPLETE: 'The payment was already complete; nothing changed.',
  ALREADY_RECORDED: 'This was already recorded; the existing record is returned.',
  CORRECTION_RECORDED: 'The change was recorded as a correction.',
  METHOD_HIDDEN_NOT_DELETED: 'The method is used by payments, so it was hidden instead of deleted.',
} as const;

export type WarningCode = keyof typeof WARNINGS;

export interface Warning {
  code: WarningCode;
  message: string;
  [detail: string]: unknown;
}

export function warning(code: WarningCode, details?: Record<string, unknown>): Warning {
  return { ...details, code, message: WARNINGS[code] };
}

/** What a use case returns when it may also have warnings to report. */
export interface WithWarnings<T> {
  data: T;
  warnings: Warning[];
}
